-- expect: error() was given a table fastlua cannot read
-- An error value whose metamethods never end: it is read raw, never through them.
error(setmetatable({}, { __index = function() while true do end end, __tostring = function() while true do end end }))
