-- Changes the body in place and returns a table made of its parts: both apply.
local c = event.response.content
c.meta.count = 9
return {status_code = 201, content = {first = c.resource[1], meta = c.meta}}
