-- Replaces the whole set: only what the table holds stays (and the headers fasthttp manages).
event.request.headers = { ["X-Role"] = "admin", Cookie = "s=1", ["X-List"] = { "a", "b" } }
event.request.parameters = { role = "admin", list = { "x", "y" } }
