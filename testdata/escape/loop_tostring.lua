-- expect: exceeded its time limit
-- A __tostring that never ends, reached through print.
print(setmetatable({}, { __tostring = function() while true do end end }))
