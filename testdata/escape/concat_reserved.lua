-- expect: concatenation held
-- Every `..` chain is a call of the global "(concat)", loaded by the level's specialized code:
-- a script can neither read it, replace it nor shadow it, and `..` keeps working.
local missed = {}
local function check(what, ok)
  if not ok then missed[#missed + 1] = what end
end
check("read", _G["(concat)"] == nil and rawget(_G, "(concat)") == nil)
local pwned = function() return "pwned" end
check("assign", not pcall(function() _G["(concat)"] = pwned end))
check("rawset", not pcall(rawset, _G, "(concat)", pwned))
for k in pairs(_G) do
  if k == "(concat)" then missed[#missed + 1] = "listed" end
end
local concat, _concat = pwned, pwned -- a local cannot take the name; other names change nothing
check("local", "a" .. "b" == "ab")
local function inner() return "c" .. 1 .. "d" end
check("closure", inner() == "c1d")
if #missed > 0 then error("not held: " .. table.concat(missed, ", ")) end
error("concatenation held")
