-- Assigned to the last parameter (see shadowLastParam), to a table field, to an upvalue.
-- Each script follows a "----" line; TestConcatAsGopherLua runs it with `..` bounded and with
-- gopher-lua's own OP_CONCAT, and the two must give the same result or error.
----
local function f(a) a = a .. "x" return a end return f("q")
----
local function f(a, b) b = a .. b return b end return f("q", "r")
----
local function f(a, b) local keep = "k" b, a = b .. a, 1 return keep .. b .. a end return f("q", "r")
----
local function f(a) local keep = "k" if a then a = keep .. a .. "!" end return keep .. a end return f("z")
----
local function f(a) local keep = "k" a = a and a .. keep or "none" return keep .. a end return f("z") .. f(false)
----
local function f(a, ...) a = a .. select("#", ...) .. ... return a end return f("w", 1, 2)
----
local function f(a) local function g() a = a .. "u" end g() g() return a end return f("v")
----
local function f(a) local a = 1 a = a .. "x" return a end return f("q")
----
local t = {n = "n"} function t:m() self = self.n .. "x" return self end return t:m()
----
local t = {n = "n"} function t:m(x) local keep = "k" x = self.n .. x return keep .. x end return t:m("y")
----
local t = {} t[1 .. ""] = "a" .. "b" t.x = t["1"] .. "c" return t.x
----
local s = "" local function add(x) s = s .. x end add("a") add(1) return s
