-- expect: attempt to call a non-function object
-- Make a userdata with a shared metatable.
local p = newproxy(true)
getmetatable(p).__gc = function() end
