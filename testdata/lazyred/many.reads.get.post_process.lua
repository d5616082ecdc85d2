-- Reads one long string member again and again: it is decoded (and charged to the JSON memory
-- budget) once.
local c = event.response.content
local len = 0
for i = 1, 400 do len = len + #c.s end
event.response.headers["X-Found"] = tostring(len)
