local c = platform.config
local keys = {}
for k, v in pairs(c.limits) do keys[#keys + 1] = k .. "=" .. v end
table.sort(keys)
local items = {}
for i, v in pairs(c.list) do items[#items + 1] = v end
local s = platform.session
return { content = {
  greeting = c.greeting, rate = c.limits.rate, n = #c.list, first = c.list[1], limits = table.concat(keys, ","),
  items = table.concat(items, ","), owner = c.owner.name, level = c.owner.nested.level,
  user = s.name, role = s.role, key = s.apiKey, method = tostring(s.IsAdmin),
} }
