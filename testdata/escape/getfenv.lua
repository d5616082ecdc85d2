-- expect: attempt to call a non-function object
-- Reach the real global table through a function's environment.
local g = getfenv(0)
g.string = nil
