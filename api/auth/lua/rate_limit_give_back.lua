--[[
  rate_limit_give_back: takes back one attempt that rate_limit_take counted (an attempt that
  turned out legitimate), never below zero and without touching the window's end.

  KEYS[1]  the counter

  Returns the count left.
]]
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count <= 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('DECR', KEYS[1])
