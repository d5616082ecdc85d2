-- expect: attempt to call a non-function object
-- Swap the environment of the caller or of a builtin.
setfenv(print, { })
