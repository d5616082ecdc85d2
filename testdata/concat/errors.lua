-- Errors: the same text and line.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
return "a" .. nil
----
return {} .. "a"
----
return "a" .. {}
----
return nil .. nil
----
return true .. "x"
----
return "x" .. print
----
return 1 .. {}
----
local a = 'x'
return a ..
 'b' ..
 nil
----
local t = {}
local s = 'a'
  .. 'b'
  .. t
----
local x


local y = 'p' .. (x
 .. 'q')
----
return "a" .. (1 + {})
----
local ok, e = pcall(function() return "a" .. nil end) return tostring(ok) .. " " .. e
