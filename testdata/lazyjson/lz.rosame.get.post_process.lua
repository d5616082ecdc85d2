-- fastlua: allow_event_modification = false
-- Writes values back unchanged and reads through pairs: nothing changed, so a read-only script
-- passes.
local c = event.response.content
for _, r in ipairs(c.resource) do
  r.name = r.name
  r.address = r.address
end
c.meta.count = c.meta.count
for k, v in pairs(c.resource[2]) do assert(v ~= nil) end
