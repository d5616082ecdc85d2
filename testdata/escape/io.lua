-- expect: non-table object(nil) with key 'open'
-- File access through io.
local f = io.open("/etc/passwd")
return { content = f:read("*a") }
