-- Frees a job's dedup key when the job leaves (completed, dead, removed), but only if the key
-- still names this job. With a TTL the key is kept until `enqueuedAt + ttl`, so a scheduler
-- replica that fires the same tick a little late still finds it.
local function releaseDedup(dedupKey, jobId, ttlMs, enqueuedAt, now)
  if redis.call('GET', dedupKey) ~= jobId then return end
  local remaining = (tonumber(enqueuedAt) or 0) + (tonumber(ttlMs) or 0) - now
  if (tonumber(ttlMs) or 0) > 0 and remaining > 0 then
    redis.call('PEXPIRE', dedupKey, math.floor(remaining))
  else
    redis.call('DEL', dedupKey)
  end
end
