-- The fields of stream entry `id` as a table, or nil when the entry was deleted.
local function readEntry(stream, id)
  local r = redis.call('XRANGE', stream, id, id)
  if #r == 0 then return nil end
  local f = r[1][2]
  local t = {}
  for i = 1, #f, 2 do t[f[i]] = f[i + 1] end
  return t
end

-- Flattens a field table back into XADD/HSET arguments, in a fixed order so entries look alike.
local ENTRY_FIELDS = {'id', 'n', 'd', 'a', 'x', 'b', 't', 'm', 'k', 'p'}
local function entryArgs(t)
  local out = {}
  for _, k in ipairs(ENTRY_FIELDS) do
    local v = t[k]
    if v ~= nil and v ~= false and v ~= '' then
      out[#out + 1] = k
      out[#out + 1] = v
    end
  end
  return out
end
