-- expect: nest deeper than
-- A script that calls itself without end, in process.
local r = platform.api.get("escape/api_recursion")
error(r.content.error.message)
