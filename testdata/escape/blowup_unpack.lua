-- expect: more than the value stack holds | exceeded its time limit
-- Millions of values on the stack at once.
local t = {}
for i = 1, 70000 do t[i] = i end
local n = select("#", unpack(t))
