-- Evaluation order: every operand, left to right, before any joining.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
local log = {} local function f(x) log[#log + 1] = x return x end
local s = f("a") .. f("b") .. (f("c") .. f("d")) .. f("e")
return table.concat(log) .. " " .. s
----
local log = {} local function f(x) log[#log + 1] = x return x end
local ok = pcall(function() return f("a") .. f(nil) .. f("c") end)
return tostring(ok) .. table.concat(log)
----
local log = {} local function f(x) log[#log + 1] = type(x) return x end
local t = setmetatable({}, {__concat = function(a, b) log[#log + 1] = "mm" return "m" end})
local s = f("a") .. f(t) .. f("c")
return table.concat(log, ",") .. " " .. s
