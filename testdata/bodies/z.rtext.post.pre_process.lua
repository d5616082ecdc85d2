-- A request body that is not JSON: content is the decoded text.
local c = event.request.content
event.request.headers["x-needle"] = tostring(c:find("needle", 1, true))
if event.request.parameters.change then event.request.content = c:upper() end
