-- __concat: right to left, pairwise, the left operand's metamethod first.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
local log = {}
local mt = {__concat = function(a, b)
  local function n(v) return type(v) == "table" and v.name or tostring(v) end
  log[#log + 1] = n(a) .. "+" .. n(b)
  return "<" .. n(a) .. n(b) .. ">"
end}
local t = setmetatable({name = "T"}, mt)
local u = setmetatable({name = "U"}, mt)
local r = "a" .. "b" .. t .. "c" .. 1 .. u .. 2 .. "d"
return r .. " " .. table.concat(log, ",")
----
local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return t .. "x"
----
local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return type(t .. "x") .. ("a" .. t .. "x")
----
local t = setmetatable({}, {__concat = function(a, b) return 5 end}) return type("x" .. t)
----
local n = 0 local t t = setmetatable({}, {__concat = function(a, b) n = n + 1 return t end}) local r = "a" .. t .. "b" .. t return tostring(r == t) .. n
----
local l = setmetatable({}, {}) local r = setmetatable({}, {__concat = function(a, b) return "r" end}) return l .. r
----
local l = setmetatable({}, {__concat = function(a, b) return "l" end}) local r = setmetatable({}, {__concat = function(a, b) return "r" end}) return l .. r .. l
----
local t = setmetatable({}, {__concat = setmetatable({}, {__call = function() return "called" end})}) return t .. "x"
----
local t = setmetatable({}, {__concat = function() error("boom") end}) return "a" .. t
----
local t = setmetatable({}, {__concat = function() error('boom', 2) end})

return 'a' .. t
----
local t = setmetatable({}, {__concat = function(a, b) return b .. a end}) return t .. nil
----
local t = setmetatable({}, {__concat = string.rep}) return pcall(function() return "ab" .. t end)
----
local t = setmetatable({}, {__concat = function(a, b) return a .. "!" end}) return "ab" .. 3 .. t
----
local l = setmetatable({}, {__concat = function(a, b) return "l" end})
local r = setmetatable({}, {__concat = function(a, b) return "r" end})
return l .. r
----
local l = setmetatable({}, {__concat = function(a, b) return "l" end})
local r = setmetatable({}, {__concat = function(a, b) return "r" end})
return "x" .. r .. l .. 1 .. (l .. r)
