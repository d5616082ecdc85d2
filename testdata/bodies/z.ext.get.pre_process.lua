-- An outgoing platform.api call that asks for a compressed answer gets its content decoded.
local opts = { headers = { ["accept-encoding"] = event.request.parameters.coding } }
local r = platform.api.get(platform.config.upstream .. "/z/json", nil, opts)
event.response.headers["x-api-first"] = r.content.items[1].name
event.response.headers["x-api-encoding"] = tostring(r.headers["content-encoding"])
