-- expect: attempt to call a non-function object
-- Run a file from disk.
dofile("/etc/passwd")
