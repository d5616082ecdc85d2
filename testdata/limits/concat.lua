local t = {}
local chunk = string.rep("x", 1024 * 1024)
for i = 1, 8 do t[i] = chunk end
return { content = table.concat(t) }
