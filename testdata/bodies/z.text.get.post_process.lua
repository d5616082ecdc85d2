-- A body that is not JSON is a string: the decoded text.
local c = event.response.content
event.response.headers["x-needle"] = tostring(c:find("needle", 1, true))
if event.request.parameters.change then event.response.content = c:upper() end
