-- expect: exceeded its time limit
local s = ("a"):rep(50000)
for w in s:gmatch("a*a*a*a*b") do end
