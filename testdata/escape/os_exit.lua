-- expect: attempt to call a non-function object
-- Take the whole server down.
os.exit(1)
