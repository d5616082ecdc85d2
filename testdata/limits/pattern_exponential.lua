-- Exponential backtracking on a short subject.
local n = 26
("a"):rep(n):find(("a?"):rep(n) .. ("a"):rep(n) .. "b")
