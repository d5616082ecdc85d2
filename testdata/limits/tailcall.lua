-- Endless tail calls: stopped by the time limit, without building a traceback per call.
local function f(n) return f(n + 1) end
return f(1)
