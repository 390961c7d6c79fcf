--[[
  Runs a dead job again: removes its dead letter and adds it to the stream with a fresh budget of
  attempts (attempt 1). Its dedup key is not taken again: the dead job gave it up, and a newer
  job may hold it now. A dead job whose payload was too large to keep (dead_summary) needs the
  caller to rebuild it (an operation's job from its operation id).

  KEYS[1] stream
  KEYS[2] dead-letter stream
  KEYS[3] job hash

  ARGV[1] job id
  ARGV[2] the payload (JSON) to run it with when the job kept none ("" for none)

  Returns the new stream entry id; false when the job is not dead; {-1, payload size} when it kept
  no payload and none was given (nothing changed).
]]
local stream, dead, hash, jobId = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local h = redis.call('HMGET', hash, 's', 'de', 'n', 'd', 'x', 'b', 't', 'm', 'dsz')
if h[1] ~= 'dead' then return false end
local payload = h[4]
if not payload then
  if ARGV[2] == nil or ARGV[2] == '' then return {-1, tonumber(h[9]) or 0} end
  payload = ARGV[2]
end
redis.call('XDEL', dead, h[2])
local args = {'XADD', stream, '*', 'id', jobId, 'n', h[3], 'd', payload, 'a', 1, 'x', h[5],
  'b', h[6], 't', h[7]}
if h[8] then
  args[#args + 1] = 'm'
  args[#args + 1] = h[8]
end
local entryId = redis.call(unpack(args))
redis.call('HSET', hash, 's', 'waiting', 'e', entryId, 'a', 1, 'p', 0)
redis.call('HDEL', hash, 'd', 'dsz', 'de', 'fa', 'k', 'kt')
return entryId
