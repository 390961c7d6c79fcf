--[[
  Takes up jobs this consumer received a second time: entries reclaimed with XAUTOCLAIM after
  their lease ran out, or its own pending entries read again after a restart. A lost delivery
  counts as an attempt (JUSTID claims do not raise the delivery count, so attempts are counted
  in the job hash); a job past its attempts goes to the dead-letter stream instead of running.

  KEYS[1] stream
  KEYS[2] dead-letter stream
  KEYS[3] stats hash
  KEYS[4..] per job, in ARGV order: the job hash, then its dedup key when it has one

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3] error text recorded for a job that ran out of attempts this way
  ARGV[4..] per job, three values: stream entry id, job id, "1" when the job has a dedup key

  Returns one integer per job: the attempt number to run it as (> 0); 0 skipped (not this
  consumer's, or an entry without a job, which is cleaned away); -1 moved to the dead letters.
]]
--@include now_ms
--@include owned
--@include read_entry
--@include release_dedup
--@include dead_summary

local stream, dead, stats = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, reason = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local k = 4
local reclaimed = 0
for i = 4, #ARGV, 3 do
  local entryId, jobId = ARGV[i], ARGV[i + 1]
  local hash = KEYS[k]
  k = k + 1
  local dedupKey
  if ARGV[i + 2] == '1' then
    dedupKey = KEYS[k]
    k = k + 1
  end
  if not owned(stream, group, entryId, consumer) then
    out[#out + 1] = 0
  else
    local h = redis.call('HMGET', hash, 'e', 'a', 'x', 't', 'kt', 'n', 'm')
    if h[1] ~= entryId then
      -- The job was removed or moved on; its entry is a leftover.
      redis.call('XACK', stream, group, entryId)
      redis.call('XDEL', stream, entryId)
      out[#out + 1] = 0
    else
      local attempt = redis.call('HINCRBY', hash, 'a', 1)
      if attempt > tonumber(h[3]) then
        local made = attempt - 1
        local now = nowMs()
        local entry = readEntry(stream, entryId) or {}
        local err = deadError(reason .. ' (attempt ' .. made .. ' of ' .. h[3] .. ')')
        local args = {'XADD', dead, '*', 'id', jobId, 'n', h[6], 'a', made, 'err', err, 'fa', now}
        if h[7] then
          args[#args + 1] = 'm'
          args[#args + 1] = h[7]
        end
        local deadId = redis.call(unpack(args))
        redis.call('HDEL', hash, 'e', 'd', 'dsz')
        redis.call('HSET', hash, 'a', made, 's', 'dead', 'err', err, 'fa', now, 'de', deadId,
          unpack(deadPayloadFields(entry['d'])))
        redis.call('XACK', stream, group, entryId)
        redis.call('XDEL', stream, entryId)
        redis.call('HINCRBY', stats, 'dead', 1)
        if dedupKey then releaseDedup(dedupKey, jobId, h[5], h[4], now) end
        out[#out + 1] = -1
      else
        reclaimed = reclaimed + 1
        out[#out + 1] = attempt
      end
    end
  end
end
if reclaimed > 0 then redis.call('HINCRBY', stats, 'reclaimed', reclaimed) end
return out
