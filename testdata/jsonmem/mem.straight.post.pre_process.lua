-- Reads the payload in a straight-line script (no loop, function or concatenation), which runs
-- without the per-instruction check: the decode itself must heed the memory guard.
local p = event.request.payload
event.request.headers["x-elements"] = tostring(#p)
