-- expect: must be a table or a string
-- A return value whose metamethods never end, and a function inside.
return setmetatable({ status_code = 201, content = print }, { __index = function() while true do end end })
