-- Reads the response content: a JSON body decoded within its memory budget.
local c = event.response.content
if type(c) ~= "table" then
  error("the content is not a table: " .. type(c))
end
event.response.headers["x-elements"] = tostring(#c)
