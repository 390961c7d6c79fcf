--[[
  publish_event: allocates the next event id of one operation and appends the event to the
  operation's stream and the global stream, atomically, unless the event is stale.

  Stale: every write of an operation row that publishes reserves a number in the same UPDATE
  (`event_seq = event_seq + 1`), so reservations follow the order in which the writes committed.
  Each operation-stream entry records the reservation it was published for (`r`). An event whose
  reservation is not above the last published one was committed before an event already out
  (its state is older), or is a retry of one already out: it is refused and gets no id. A
  terminal write is the last one an operation's life commits (every other write requires the
  row to be active), so nothing of that life is published after its terminal event, and
  nothing removes the terminal stream's expiry.

  The id is one more than the operation's counter. Without a counter (a flush, or the history
  expired) it is the reservation itself: every id published so far was at most the reservation of
  its write, and this write committed after those, so an id is never reused.

  KEYS[1]  {ops:<p>}:seq:<operation id>   counter (string)
  KEYS[2]  {ops:<p>}:op:<operation id>    the operation's stream (capped); entry ids are `<id>-0`
  KEYS[3]  {ops:<p>}:events               partition p's global stream (capped)
  KEYS[4]  {ops:<p>}:events:g             count of entries ever added to that global stream

  p is the operation's partition (a hash of its id, shared/events/event_keys.ts): all four keys
  share its hash tag, so they lie in one Redis Cluster slot.

  ARGV[1]  the write's reservation (the row's `event_seq` as that write set it)
  ARGV[2]  MAXLEN of the operation's stream
  ARGV[3]  MAXLEN (approximate) of the global stream
  ARGV[4]  seconds to keep the operation's stream and counter after this event; 0 keeps them
           (terminal events set it so finished operations' history expires)
  ARGV[5]  operation id
  ARGV[6]  owner (user) id, for fan-out by user
  ARGV[7]  event JSON without its id

  Each global entry carries `g`, its position in KEYS[4]'s count: a hub that sees `g` jump, or
  the count run ahead of what it read, knows it missed entries (trimmed before it read them).

  Returns the event id, or 0 when the event was refused as stale.
]]
local r = tonumber(ARGV[1])
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local lastId, w = nil, 0
if last then
  lastId = tonumber(string.match(last[1], '^(%d+)'))
  local f = last[2]
  for i = 1, #f, 2 do
    if f[i] == 'r' then w = tonumber(f[i + 1]) end
  end
end
if r <= w then return 0 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if lastId and (not cur or lastId > cur) then cur = lastId end
local id = r
if cur then id = cur + 1 end
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[1], id)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id .. '-0', 'id', id, 'r', r, 'data', ARGV[7])
local g = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'op', ARGV[5], 'owner', ARGV[6],
  'id', id, 'g', g, 'data', ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return id
