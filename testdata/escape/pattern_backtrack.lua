-- expect: exceeded its time limit
local s = ("a"):rep(200000)
s:find(".-.-.-b")
