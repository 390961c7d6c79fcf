--[[
  Moves a job that failed its last attempt (or can never succeed) to the dead-letter stream,
  keeping its error: the job hash stays (state 'dead', with the payload copied from the entry
  when it is small, else only its size: dead_summary) so the job can be listed and requeued, and
  the same job id cannot be enqueued again meanwhile. The dedup key is freed so that a new
  request for the same work is accepted.

  KEYS[1] stream
  KEYS[2] dead-letter stream
  KEYS[3] job hash
  KEYS[4] stats hash
  KEYS[5] dedup key (only when the job has one)

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3] stream entry id
  ARGV[4] job id
  ARGV[5] error text
  ARGV[6] attempts made

  Returns the dead-letter entry id; 0 when this consumer no longer holds the entry (nothing
  changed); -1 when the entry had no job (the leftover is cleaned away).
]]
--@include now_ms
--@include owned
--@include read_entry
--@include release_dedup
--@include dead_summary

local stream, dead, hash, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer, entryId, jobId = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not owned(stream, group, entryId, consumer) then return 0 end
local entry = readEntry(stream, entryId)
redis.call('XACK', stream, group, entryId)
redis.call('XDEL', stream, entryId)
local h = redis.call('HMGET', hash, 'e', 'n', 'm', 't', 'kt')
if entry == nil or h[1] ~= entryId then return -1 end

local now = nowMs()
local err = deadError(ARGV[5])
local args = {'XADD', dead, '*', 'id', jobId, 'n', h[2], 'a', ARGV[6], 'err', err, 'fa', now}
if h[3] then
  args[#args + 1] = 'm'
  args[#args + 1] = h[3]
end
local deadId = redis.call(unpack(args))
redis.call('HDEL', hash, 'e', 'd', 'dsz')
redis.call('HSET', hash, 's', 'dead', 'a', ARGV[6], 'err', err, 'fa', now, 'de', deadId,
  unpack(deadPayloadFields(entry['d'])))
redis.call('HINCRBY', stats, 'dead', 1)
if KEYS[5] then releaseDedup(KEYS[5], jobId, h[5], h[4], now) end
return deadId
