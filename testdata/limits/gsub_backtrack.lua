local s = ("a"):rep(50000)
s:gsub(".-.-b", "x")
