-- The response content is the decoded JSON body, whatever its Content-Encoding.
local c = event.response.content
event.response.headers["x-first"] = c.items[1].name
if event.request.parameters.change then c.items[1].name = "changed" end
