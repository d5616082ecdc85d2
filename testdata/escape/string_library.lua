-- expect: the string library is read-only
-- Change the string library itself.
string.upper = function() return "pwned" end
