-- expect: setmetatable: the os library is read-only
-- Replace a library's metatable.
setmetatable(os, nil)
