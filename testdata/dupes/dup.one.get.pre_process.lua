-- Writes one name at a time: each name must reach the handler exactly as written, whatever
-- copies of it the client sent.
local h, p = event.request.headers, event.request.parameters
h["X-Role"] = "admin"
event.request.headers["x-drop"] = nil
h.Cookie = "s=1"
local k = "X-List"
h[k] = { "a", "b" }
p.role = "admin"
event.request.parameters["drop"] = nil
local l = "list"
p[l] = { "x", "y" }
