-- platform.api results are decoded too: the nested requests ask for the caller's
-- Accept-Encoding, so a CompressHandler below the middleware compresses their answers.
local opts = { headers = { ["accept-encoding"] = event.request.headers["accept-encoding"] } }
local r = platform.api.get("z/json", nil, opts)
event.response.headers["x-api-first"] = r.content.items[1].name
event.response.headers["x-api-encoding"] = tostring(r.headers["content-encoding"])
local t = platform.api.get("z/text", nil, opts)
event.response.headers["x-api-needle"] = tostring(t.content:find("needle", 1, true))
if event.request.parameters["return"] then return r end
