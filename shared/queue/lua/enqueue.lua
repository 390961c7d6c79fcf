--[[
  Adds a job to a queue, unless a job with the same id exists (waiting, delayed, running or
  dead), or a live job holds the same dedup key.

  KEYS[1] stream        <prefix>{q:<queue>}:stream
  KEYS[2] delayed set   <prefix>{q:<queue>}:delayed
  KEYS[3] job hash      <prefix>{q:<queue>}:job:<id>
  KEYS[4] stats hash    <prefix>{q:<queue>}:stats
  KEYS[5] dedup key     <prefix>{q:<queue>}:dedup:<key>   (only when the job has one)

  ARGV[1] job id
  ARGV[2] task name
  ARGV[3] payload (JSON)
  ARGV[4] max attempts
  ARGV[5] backoff (JSON)
  ARGV[6] delay in ms (0: ready now)
  ARGV[7] metadata (JSON; "" for none)
  ARGV[8] dedup key as given ("" for none)
  ARGV[9] dedup TTL in ms

  Returns {1, job id, state} when added (state 'waiting' or 'delayed');
          {0, id of the existing job, 'id' | 'dedup'} when not.
]]
--@include now_ms

local jobId = ARGV[1]
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, jobId, 'id'} end
local dedupKey = KEYS[5]
if dedupKey then
  local holder = redis.call('GET', dedupKey)
  if holder then return {0, holder, 'dedup'} end
end

local now = nowMs()
local delay = tonumber(ARGV[6])
local meta, dedup = ARGV[7], ARGV[8]

local hset = {'HSET', KEYS[3], 'n', ARGV[2], 'x', ARGV[4], 'b', ARGV[5], 't', now}
local function push(t, ...)
  for _, v in ipairs({...}) do t[#t + 1] = v end
end
if meta ~= '' then push(hset, 'm', meta) end
if dedup ~= '' then push(hset, 'k', dedup, 'kt', ARGV[9]) end

local state
if delay > 0 then
  state = 'delayed'
  -- Attempt 0: promotion counts the first attempt, as it does for a retry.
  push(hset, 'a', 0, 's', 'delayed', 'd', ARGV[3], 'due', now + delay)
  redis.call('ZADD', KEYS[2], now + delay, jobId)
else
  state = 'waiting'
  -- The payload travels in the stream entry only, so a fresh delivery needs no second read.
  local xadd = {'XADD', KEYS[1], '*', 'id', jobId, 'n', ARGV[2], 'd', ARGV[3], 'a', 1,
    'x', ARGV[4], 'b', ARGV[5], 't', now}
  if meta ~= '' then push(xadd, 'm', meta) end
  if dedup ~= '' then push(xadd, 'k', dedup) end
  local entryId = redis.call(unpack(xadd))
  push(hset, 'a', 1, 's', 'waiting', 'e', entryId)
end
redis.call(unpack(hset))
if dedupKey then redis.call('SET', dedupKey, jobId) end
redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
return {1, jobId, state}
