-- Reads every member of a large object: each read is one lookup.
local c = event.response.content
local n = 0
for i = 1, c.n do
  if c["k" .. i] then n = n + 1 end
end
event.response.headers["X-Found"] = tostring(n)
