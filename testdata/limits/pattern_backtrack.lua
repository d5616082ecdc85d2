-- Backtracking: polynomial in the subject's length, inside one builtin call.
local s = ("a"):rep(100000)
s:find(".-.-b")
