-- expect: the Lua VM failed
-- A Go panic (math.random(0) calls rand.Intn(0)) stops the run, whatever catches it here.
local ok, err = pcall(math.random, 0)
error("escaped: the script went on after a Go panic: " .. tostring(ok) .. ", " .. tostring(err))
