--[[
  Hands back jobs this consumer holds but will not finish: entries fetched while the worker was
  closing, and jobs whose handlers stopped for a shutdown. Each goes back to the tail of the
  stream as a new entry with the attempt number it had, so the next worker starts it at once and
  the interruption costs no attempt. Only for handlers that have settled: a running one is left
  pending and reclaimed after its lease, so a job never runs twice at once.

  KEYS[1] stream
  KEYS[2..] one job hash per job, in ARGV order

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3..] per job, three values: stream entry id, job id, attempt number to keep

  Returns the number of jobs handed back.
]]
--@include owned
--@include read_entry

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local released = 0
local k = 2
for i = 3, #ARGV, 3 do
  local entryId, attempt = ARGV[i], ARGV[i + 2]
  local hash = KEYS[k]
  k = k + 1
  if owned(stream, group, entryId, consumer) then
    local entry = readEntry(stream, entryId)
    redis.call('XACK', stream, group, entryId)
    redis.call('XDEL', stream, entryId)
    if entry and redis.call('HGET', hash, 'e') == entryId then
      entry['a'] = attempt
      local args = {'XADD', stream, '*'}
      for _, v in ipairs(entryArgs(entry)) do args[#args + 1] = v end
      local newId = redis.call(unpack(args))
      redis.call('HSET', hash, 'e', newId, 'a', attempt)
      released = released + 1
    end
  end
end
return released
