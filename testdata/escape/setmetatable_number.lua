-- expect: table expected, got number
-- Give every number a metatable, for all later runs of this state.
setmetatable(1, { __index = function() return "pwned" end })
