local s = string.rep("a", 100000)
local big = s:gsub("a", string.rep("b", 100))
