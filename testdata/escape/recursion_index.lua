-- expect: stack overflow
-- Recursion through __index.
local t = setmetatable({}, {})
getmetatable(t).__index = function(tb, k) return tb[k] end
local x = t.anything
