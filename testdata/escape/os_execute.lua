-- expect: attempt to call a non-function object
-- Run a process.
os.execute("touch /tmp/fastlua-escaped")
