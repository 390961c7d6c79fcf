--[[
  Schedules a failed (or postponed) job to run again after a delay: copies its payload from the
  stream entry into the job hash, adds it to the delayed set at now + delay (server clock), and
  acks and deletes the entry, all at once. A postponed job (RetryLaterError) keeps its attempt
  number: promotion counts one, so the hash's count steps back by one here.

  KEYS[1] stream
  KEYS[2] delayed set
  KEYS[3] job hash
  KEYS[4] stats hash

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3] stream entry id
  ARGV[4] job id
  ARGV[5] delay in ms
  ARGV[6] error text
  ARGV[7] 'retry' or 'postpone'

  Returns the due time (ms, server clock) when scheduled; 0 when this consumer no longer holds
  the entry (nothing changed); -1 when the entry had no job (the leftover is cleaned away).
]]
--@include now_ms
--@include owned
--@include read_entry

local stream, delayed, hash, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer, entryId, jobId = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not owned(stream, group, entryId, consumer) then return 0 end
local entry = readEntry(stream, entryId)
redis.call('XACK', stream, group, entryId)
redis.call('XDEL', stream, entryId)
if entry == nil or redis.call('HGET', hash, 'e') ~= entryId then return -1 end

local due = nowMs() + tonumber(ARGV[5])
redis.call('HSET', hash, 's', 'delayed', 'd', entry['d'], 'due', due, 'err', ARGV[6])
redis.call('HDEL', hash, 'e')
if ARGV[7] == 'postpone' then
  redis.call('HINCRBY', hash, 'a', -1)
  redis.call('HINCRBY', hash, 'p', 1)
  redis.call('HINCRBY', stats, 'postponed', 1)
else
  redis.call('HINCRBY', stats, 'retried', 1)
end
redis.call('ZADD', delayed, due, jobId)
return due
