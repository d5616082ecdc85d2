-- expect: exceeded its time limit
-- The error handler itself never ends.
xpcall(function() error("x") end, function() while true do end end)
