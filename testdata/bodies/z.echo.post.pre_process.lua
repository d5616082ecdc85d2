-- The request payload and content are the decoded body, whatever its Content-Encoding.
local p = event.request.payload
event.request.headers["x-name"] = p.name
event.request.headers["x-content"] = tostring(#event.request.content)
if event.request.parameters.change then p.name = "changed" end
