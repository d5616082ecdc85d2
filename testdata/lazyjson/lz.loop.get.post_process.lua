-- Replaces and reads the body again and again: past the texts a run decodes lazily the rest are
-- decoded eagerly, every one readable and changeable.
local kept = event.response.content.meta
for i = 1, 100 do
  event.response.content = '{"i":' .. i .. ',"o":{"n":' .. i .. '}}'
  local c = event.response.content
  assert(c.i == i and c.o.n == i, "read back " .. tostring(c.i))
end
event.response.content.o.n = kept.count
