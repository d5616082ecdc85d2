-- expect: attempt to call a non-function object
-- Read the server's environment (secrets).
return { content = os.getenv("HOME") }
