--[[
  Removes a job so that it never (again) starts: a waiting entry is deleted, a delayed job
  leaves the delayed set, a dead letter is deleted. A running job is removed only when forced;
  its worker then finds at its next lease renewal that the job is gone and aborts the handler.

  KEYS[1] stream
  KEYS[2] delayed set
  KEYS[3] dead-letter stream
  KEYS[4] job hash
  KEYS[5] dedup key (only when the job has one)

  ARGV[1] consumer group
  ARGV[2] job id
  ARGV[3] "1" to remove a running job too
  ARGV[4] the dedup key the caller read from the job hash ("" for none)

  Returns {1, state} when removed (state 'waiting', 'active', 'delayed' or 'dead');
          {0, 'active'} when the job runs and removal was not forced;
          {0, ''} when there is no such job;
          {-1, ''} when the job's dedup key is not the one passed (read it again and retry).
]]
--@include owned

local stream, delayed, dead, hash = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, jobId = ARGV[1], ARGV[2]
local h = redis.call('HMGET', hash, 's', 'e', 'de', 'k')
if not h[1] then return {0, ''} end
if (h[4] or '') ~= ARGV[4] then return {-1, ''} end

local state = h[1]
if state == 'waiting' then
  if owner(stream, group, h[2]) then
    state = 'active'
    if ARGV[3] ~= '1' then return {0, 'active'} end
    redis.call('XACK', stream, group, h[2])
  end
  redis.call('XDEL', stream, h[2])
elseif state == 'delayed' then
  redis.call('ZREM', delayed, jobId)
elseif state == 'dead' then
  redis.call('XDEL', dead, h[3])
end
redis.call('DEL', hash)
if KEYS[5] and redis.call('GET', KEYS[5]) == jobId then redis.call('DEL', KEYS[5]) end
return {1, state}
