--[[
  publish_event: allocates the next event id of one operation and appends the event to the
  operation's stream and the global stream, atomically.

  The id is one more than the larger of the operation's counter and ARGV[1] (the row's
  `event_seq` in Postgres), so a Redis flush never rewinds it. The operation's stream uses the id
  as its entry id (`<id>-0`), so a client resumes with XRANGE from `<since + 1>-0`.

  KEYS[1]  {ops}:seq:<operation id>   counter (string)
  KEYS[2]  {ops}:op:<operation id>    the operation's stream (capped)
  KEYS[3]  {ops}:events               the global stream (capped)

  ARGV[1]  floor: the highest id Postgres has recorded for this operation
  ARGV[2]  MAXLEN of the operation's stream
  ARGV[3]  MAXLEN (approximate) of the global stream
  ARGV[4]  seconds to keep the operation's stream and counter after this event; 0 keeps them
           (terminal events set it so finished operations' history expires)
  ARGV[5]  operation id
  ARGV[6]  owner (user) id, for fan-out by user
  ARGV[7]  event JSON without its id

  Returns the event id.
]]
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if floor > cur then cur = floor end
local id = cur + 1
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[1], id)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id .. '-0', 'id', id, 'data', ARGV[7])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'op', ARGV[5], 'owner', ARGV[6],
  'id', id, 'data', ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return id
