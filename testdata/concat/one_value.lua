-- One value from each operand, one from the chain.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
local function f() return "x", "y" end return "a" .. f()
----
local function f() return "x", "y" end return select("#", "a" .. f())
----
local function g(...) return "a" .. ... end return g("b", "c")
----
local function h() return "a" .. "b" end return select("#", h())
----
local t = {"a" .. "b", "c" .. "d"} return #t .. t[1] .. t[2]
----
local function f() return end return pcall(function() return "a" .. f() end)
