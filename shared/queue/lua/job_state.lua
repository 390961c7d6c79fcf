--[[
  Reads where a job is, in one consistent view: waiting in the stream, active (delivered to a
  consumer and not finished), delayed, or dead. Read-only.

  KEYS[1] job hash
  KEYS[2] stream

  ARGV[1] consumer group

  Returns false when there is no such job; otherwise {state, task name, attempts, max attempts,
  last error, consumer, idle ms, due ms, enqueued ms, metadata, failed-at ms, postpones}, with
  "" for what does not apply.
]]
local h = redis.call('HMGET', KEYS[1], 's', 'n', 'a', 'x', 'err', 'e', 't', 'm', 'fa', 'p', 'due')
if not h[1] then return false end
local state, consumer, idle, due = h[1], '', '', ''
if state == 'waiting' and h[6] then
  local p = redis.pcall('XPENDING', KEYS[2], ARGV[1], h[6], h[6], 1)
  if type(p) == 'table' and not p.err and p[1] then
    state = 'active'
    consumer = p[1][2]
    idle = tostring(p[1][3])
  end
elseif state == 'delayed' then
  due = h[11] or ''
end
return {state, h[2] or '', h[3] or '0', h[4] or '0', h[5] or '', consumer, idle, due,
  h[7] or '', h[8] or '', h[9] or '', h[10] or '0'}
