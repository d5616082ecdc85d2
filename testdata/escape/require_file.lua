-- expect: require loads only the built-in modules
-- Load a Lua file through the module path.
require("testdata.sandbox.os_exit")
