-- expect: attempt to call a non-function object
-- Stop the collector for the whole process.
collectgarbage("stop")
