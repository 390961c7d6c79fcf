-- Whether `consumer` holds stream entry `id` in `group`'s pending list. A missing stream or
-- group (NOGROUP after a flush) means nobody holds it.
local function owner(stream, group, id)
  local p = redis.pcall('XPENDING', stream, group, id, id, 1)
  if type(p) ~= 'table' or p.err or p[1] == nil then return nil end
  return p[1][2]
end

local function owned(stream, group, id, consumer)
  return owner(stream, group, id) == consumer
end
