-- expect: more than the value stack holds
-- string.char takes its bytes as arguments: bounded by the value stack (unpack is refused first).
local t = {}
for i = 1, 200000 do t[i] = 65 end
string.char(unpack(t))
