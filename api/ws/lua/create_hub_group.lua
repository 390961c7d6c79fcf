--[[
  create_hub_group: creates a hub's consumer group on the global event stream at a known id, and
  returns that id with the stream's entry count, atomically (no event can fall between them).

  KEYS[1]  {ops:<p>}:events     one partition's global stream
  KEYS[2]  {ops:<p>}:events:g   count of entries ever added to it

  ARGV[1]  group name
  ARGV[2]  '$' for a new hub (start after the last entry), else the id of the last entry the hub
           read (or the id where its group was first created)
  ARGV[3]  the count the hub last saw ('' for a new hub)

  A hub recreating its group (after NOGROUP) resumes after the last entry it read. When the count
  is below what the hub saw, the stream was flushed: every entry in it now was published after
  the flush, so the group starts at its beginning.

  Returns {start id, entry count, 1 when the count went back (a flush) else 0}.
]]
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
local from = ARGV[2]
local seen = tonumber(ARGV[3])
local flushed = 0
if from == '$' then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  from = last and last[1] or '0-0'
elseif seen and count < seen then
  from = '0-0'
  flushed = 1
end
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], from, 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then
  return redis.error_reply(r.err)
end
return {from, count, flushed}
