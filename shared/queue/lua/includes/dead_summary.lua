-- What a dead job keeps, for the 30 days dead letters stay: its payload only when it is small (so
-- a requeue runs it as it was), else only its size (`dsz`): an embedding batch's payload reaches
-- tens of MB. Its error text is cut to a few KB.
local DEAD_PAYLOAD_MAX_BYTES = 16384
local DEAD_ERROR_MAX_BYTES = 4096

local function deadPayloadFields(payload)
  if payload and #payload <= DEAD_PAYLOAD_MAX_BYTES then return {'d', payload} end
  return {'dsz', payload and #payload or 0}
end

local function deadError(text)
  if #text <= DEAD_ERROR_MAX_BYTES then return text end
  return string.sub(text, 1, DEAD_ERROR_MAX_BYTES) .. '...'
end
