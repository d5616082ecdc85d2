-- expect: non-table object(boolean) with key '__index'
-- Change string methods for every later run through the string metatable.
getmetatable("").__index.upper = function() return "pwned" end
