-- expect: attempt to call a non-function object
-- Compile a file from disk.
local f = loadfile("/etc/passwd")
f()
