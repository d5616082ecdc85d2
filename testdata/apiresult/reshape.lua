-- Two platform.api results in one run, reshaped after they are read: the next request, on
-- the same state, must get clean ones.
local a = platform.api.get("data/1")
local b = platform.api.get("data/2")
local c = platform.api.get("data/3")
local clean = a.extra == nil and b.extra == nil and c.extra == nil and c.content.id == 3 and a.headers["x-stale"] == nil and a.content.stale == nil
  and getmetatable(b) == nil and b.content.name == "item" and a.status_code == 200
  and rawget(b, "missing") == nil and b.content_type == "application/json"
local keys = {}
for k in pairs(a) do keys[#keys + 1] = k end
table.sort(keys)
local distinct = a ~= b and a.headers ~= b.headers and a.content ~= b.content
local out = {clean = clean, distinct = distinct, keys = table.concat(keys, ","),
  a_id = a.content.id, b_id = b.content.id, a_item = a.headers["x-item"], b_item = b.headers["x-item"]}
c.extra = "stale"
a.headers["x-stale"] = "1"
a.content.stale = true
a.status_code = nil
b.content.name = "changed"
setmetatable(b, {__index = function() return "meta" end})
return {status_code = 200, content = out}
