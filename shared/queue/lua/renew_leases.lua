--[[
  Renews the leases of the jobs this consumer runs: resets the idle time of each stream entry
  that is still this consumer's, so no other worker's XAUTOCLAIM takes it. The ownership check
  comes first because a plain XCLAIM would steal back an entry another worker already
  reclaimed.

  KEYS[1] stream

  ARGV[1] consumer group
  ARGV[2] consumer name
  ARGV[3..] stream entry ids

  Returns one integer per id: 1 renewed; 0 gone (no longer pending: removed, or the stream or
  group was flushed); -1 held by another consumer.
]]
--@include owned

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local out, mine, at = {}, {}, {}
for i = 3, #ARGV do
  local o = owner(stream, group, ARGV[i])
  if o == nil then
    out[i - 2] = 0
  elseif o ~= consumer then
    out[i - 2] = -1
  else
    out[i - 2] = 1
    mine[#mine + 1] = ARGV[i]
    at[ARGV[i]] = i - 2
  end
end
if #mine > 0 then
  local args = {'XCLAIM', stream, group, consumer, 0}
  for _, id in ipairs(mine) do args[#args + 1] = id end
  args[#args + 1] = 'JUSTID'
  local claimed = redis.call(unpack(args))
  local got = {}
  for _, id in ipairs(claimed) do got[id] = true end
  -- An entry deleted while pending is dropped from the pending list by XCLAIM, not returned.
  for _, id in ipairs(mine) do
    if not got[id] then out[at[id]] = 0 end
  end
end
return out
