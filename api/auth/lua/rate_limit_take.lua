--[[
  rate_limit_take: counts one attempt on every counter, atomically, unless one of them is full.

  Fixed windows: a counter's window starts with its first attempt and lasts ARGV[1] seconds.
  Checking and counting in one script means concurrent attempts cannot all pass the check before
  any of them is counted. Only GET, TTL, INCR and EXPIRE without options: Redis 6 and 7.0 run it.

  KEYS[1..n]   the counters
  ARGV[1]      window length in seconds
  ARGV[2..n+1] each counter's limit (attempts per window)

  Returns 0 when the attempt was counted; otherwise nothing was counted and it returns the seconds
  until every full counter's window ends.
]]
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      -- A counter without an expiry (written by something else) would block forever.
      redis.call('EXPIRE', key, window)
      ttl = window
    elseif ttl < 1 then
      ttl = 1
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
return 0
