-- Reads the request payload: a JSON body decoded within its memory budget.
local p = event.request.payload
if type(p) ~= "table" then
  error("the payload is not a table: " .. type(p))
end
event.request.headers["x-elements"] = tostring(#p)
