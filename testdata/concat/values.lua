-- Strings and numbers, numbers written as gopher-lua writes them.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
return "a" .. "b"
----
return "" .. ""
----
return 1 .. 2
----
local x = "n=" return x .. 1 .. " " .. 2.5 .. " " .. -0 .. " " .. 1e300 .. " " .. 2^53 + 1 .. " " .. -2^53
----
return 0/0 .. " " .. 1/0 .. " " .. -1/0 .. " " .. 1e15 .. " " .. 1e16 .. " " .. 123456789012 .. " " .. 0.1 .. " " .. 1/3 .. " " .. -1e-300 .. " " .. 5e-324
----
return 1e21 .. "|" .. 0.001 .. "|" .. 123456.789 .. "|" .. 0x10 .. "|" .. -0.0
----
local s = "" for i = 1, 20 do s = s .. i .. "," end return s
----
return ("a" .. "b") .. ("c" .. "d")
----
return "a" .. ("b" .. ("c" .. "d"))
----
return ((("a" .. "b") .. "c") .. "d") .. "e"
----
return ("a" .. "b"):upper() .. ("x"):rep(3)
----
if "a" .. "b" == "ab" then return "yes" end return "no"
----
local p = "x" local function f() return p .. "y" end return f() .. f()
----
return "x" .. (true and "c" .. "d")
----
local a return "x" .. (a or "c" .. "d") .. "e"
----
local a = "c" return "x" .. (a and a .. a)
----
return "x" .. #("ab" .. "c") .. (2 + 3)
----
return ("%d"):format(5) .. "x" .. tostring(nil)
----
local t = {k = "v"} return t.k .. t["k"] .. (t.k .. "w")
