-- Reads the payload everywhere and changes nothing: the handler gets the client's bytes.
local p = event.request.payload
for _, r in ipairs(p.resource) do assert(r.name and r.address.city) end
for k in pairs(p.meta) do assert(k) end
