-- Coroutines: operands from a yield, a yield inside __concat (refused across the boundary).
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
local co = coroutine.wrap(function(a) local b = coroutine.yield(a .. "1") return b .. "2" end) return co("x") .. co("y")
----
local co = coroutine.wrap(function() return "a" .. coroutine.yield("y") .. "c" end) return co() .. co("b")
----
local t = setmetatable({}, {__concat = function() return coroutine.yield("z") end})
local co = coroutine.create(function() return "a" .. t end)
local ok, v = coroutine.resume(co) return tostring(ok) .. " " .. tostring(v)
