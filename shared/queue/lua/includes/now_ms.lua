-- The server's clock in milliseconds: every due time and timestamp comes from Redis, so hosts
-- with skewed clocks agree on when a delayed job is due.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
