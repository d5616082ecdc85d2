-- expect: require loads only the built-in modules
-- Load a library the sandbox does not open.
local io = require("io")
io.open("/etc/passwd")
