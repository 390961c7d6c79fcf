--[[
  Moves due delayed jobs back into the stream: each one still in the delayed set and due by the
  server's clock gets a new stream entry carrying its payload and its next attempt number, and
  its hash points at that entry. Several workers may race to promote the same job; the ZREM
  decides, so each job is added once.

  KEYS[1] delayed set
  KEYS[2] stream
  KEYS[3..] one job hash per id, in ARGV order

  ARGV[1..] job ids

  Returns the number of jobs moved.
]]
--@include now_ms

local delayed, stream = KEYS[1], KEYS[2]
local now = nowMs()
local moved = 0
for i = 1, #ARGV do
  local jobId, hash = ARGV[i], KEYS[i + 2]
  local due = redis.call('ZSCORE', delayed, jobId)
  if due and tonumber(due) <= now and redis.call('ZREM', delayed, jobId) == 1 then
    local h = redis.call('HMGET', hash, 's', 'n', 'd', 'x', 'b', 't', 'm', 'k', 'p')
    if h[1] == 'delayed' then
      local attempt = redis.call('HINCRBY', hash, 'a', 1)
      local args = {'XADD', stream, '*', 'id', jobId, 'n', h[2], 'd', h[3], 'a', attempt,
        'x', h[4], 'b', h[5], 't', h[6]}
      if h[7] then args[#args + 1] = 'm'; args[#args + 1] = h[7] end
      if h[8] then args[#args + 1] = 'k'; args[#args + 1] = h[8] end
      if h[9] and h[9] ~= '0' then args[#args + 1] = 'p'; args[#args + 1] = h[9] end
      local entryId = redis.call(unpack(args))
      redis.call('HSET', hash, 's', 'waiting', 'e', entryId)
      redis.call('HDEL', hash, 'd', 'due')
      moved = moved + 1
    end
  end
end
return moved
