-- Changes one nested field and removes another: the rest of the body keeps its bytes.
local c = event.response.content
c.meta.count = 6
c.resource[2].email = nil
