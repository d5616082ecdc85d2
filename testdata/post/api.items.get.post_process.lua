-- A JSON rewrite in place: add a field, drop one, keep the rest.
local c = event.response.content
c.custom_field = "added"
c.headers = nil
event.response.headers["x-post"] = "1"
