-- expect: stack overflow
local mt = {}
mt.__concat = function(a, b) return setmetatable({}, mt) .. b end
local x = setmetatable({}, mt) .. "x"
