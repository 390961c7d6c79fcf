--[[
  Lists delayed jobs that are due by the server's clock, and how long until the next one is.
  Read-only: promote_delayed.lua moves them, with their hashes in KEYS.

  KEYS[1] delayed set

  ARGV[1] most ids to return

  Returns {ids, ms until the earliest job still delayed after these (-1: none)}.
]]
--@include now_ms

local now = nowMs()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local nextIn = -1
local after = redis.call('ZRANGE', KEYS[1], #ids, #ids, 'WITHSCORES')
if after[2] then nextIn = math.max(0, tonumber(after[2]) - now) end
return {ids, nextIn}
