-- expect: attempt to yield across
-- A __tostring that yields, called by tostring (Go) inside a coroutine: gopher-lua's nested VM
-- loop used to unwind wrongly and fail later with a Go nil-pointer error, on a reused state.
local evil = setmetatable({}, { __tostring = function() coroutine.yield("y") return "x" end })
local co = coroutine.wrap(function() return tostring(evil) end)
co()
co()
