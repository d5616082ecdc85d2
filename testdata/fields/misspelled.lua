-- Reads a field that does not exist: the error names it and suggests the right one.
local b = event.request.body
