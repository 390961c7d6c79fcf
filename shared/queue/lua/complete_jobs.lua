--[[
  Completes a batch of jobs whose handlers succeeded: acks and deletes their stream entries,
  deletes their hashes and frees their dedup keys. A job this consumer no longer holds (its
  lease was taken, or it was removed) is left alone: whoever holds it now decides. Then, in the
  same round trip, reads up to ARGV[3] new entries for this consumer (XREADGROUP without BLOCK,
  which a script may not do): the slots the completed jobs freed are filled at once, and the
  worker waits on its blocking read only when this found none.

  KEYS[1] stream
  KEYS[2] stats hash
  KEYS[3..] per job, in ARGV order: the job hash, then its dedup key when it has one

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3] new entries to read for this consumer after the completions, at most (0: none)
  ARGV[4..] per job, three values: stream entry id, job id, "1" when the job has a dedup key

  Returns { results, entries, more }: one integer per job (1 completed, 0 not held by this
  consumer: nothing changed), the entries read, each { id, { field, value, ... } } (empty when
  none was waiting, or the group is gone), and 1 when entries newer than the last one read wait
  still (0 when none, or nothing was asked for).
]]
--@include now_ms
--@include owned
--@include release_dedup

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local out, acked = {}, {}
local now
local k = 3
for i = 4, #ARGV, 3 do
  local entryId, jobId = ARGV[i], ARGV[i + 1]
  local hash = KEYS[k]
  k = k + 1
  local dedupKey
  if ARGV[i + 2] == '1' then
    dedupKey = KEYS[k]
    k = k + 1
  end
  if owned(stream, group, entryId, consumer) then
    acked[#acked + 1] = entryId
    local h = redis.call('HMGET', hash, 'e', 't', 'kt')
    -- The hash may already belong to a later job with the same id; only ours is deleted.
    if h[1] == entryId then
      redis.call('DEL', hash)
      if dedupKey then
        now = now or nowMs()
        releaseDedup(dedupKey, jobId, h[3], h[2], now)
      end
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #acked > 0 then
  redis.call('XACK', stream, group, unpack(acked))
  redis.call('XDEL', stream, unpack(acked))
  redis.call('HINCRBY', KEYS[2], 'completed', #acked)
end
local entries, more = {}, 0
local fetch = tonumber(ARGV[3])
if fetch > 0 then
  -- A missing group (after a flush) is the blocking reader's to recreate: nothing is read here.
  local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', fetch, 'STREAMS', stream, '>')
  if type(r) == 'table' and not r.err and r[1] then entries = r[1][2] end
  if #entries == fetch then
    local after = redis.call('XRANGE', stream, '(' .. entries[#entries][1], '+', 'COUNT', 1)
    if #after > 0 then more = 1 end
  end
end
return { out, entries, more }
