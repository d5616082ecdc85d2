-- A platform.api result whose content is a JSON document (the raw service has no scripts).
local r = platform.api.get("raw/doc", nil, {parameters = {doc = event.request.parameters.doc}})
if type(r.content) ~= "table" then
  error("the content is not a table: " .. type(r.content))
end
event.response.headers["x-elements"] = tostring(#r.content)
