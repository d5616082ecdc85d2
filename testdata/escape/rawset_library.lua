-- expect: rawset: the string library is read-only
-- Bypass the library's read-only metatable.
rawset(string, "lower", function() return "pwned" end)
