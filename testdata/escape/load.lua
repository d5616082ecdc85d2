-- expect: attempt to call a non-function object
-- Compile code built at run time, which could reach what the script cannot name.
local chunk = load(function() return nil end)
chunk()
