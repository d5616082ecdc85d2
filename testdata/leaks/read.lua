-- Reports anything a previous run left behind.
local found = {}
for _, name in ipairs({ "leaked", "leaked_g", "leaked_raw" }) do
  if _G[name] ~= nil then found[#found + 1] = name end
end
if _G[1] ~= nil then found[#found + 1] = "_G[1]" end
if event == nil then found[#found + 1] = "event" end
if print == nil then found[#found + 1] = "print" end
if ("a"):upper() ~= "A" or string.lower("B") ~= "b" then found[#found + 1] = "string" end
local ok, v = pcall(function() return (1).x end)
if ok then found[#found + 1] = "number metatable" end
event.response.headers["x-leaks"] = table.concat(found, ",")
-- Wrapped builtins still work (closures among them).
local n = 0
for w in ("a b c"):gmatch("%a") do n = n + 1 end
for k, v in pairs({ x = 1 }) do n = n + v end
if n ~= 4 or select("#", string.find("abc", "b")) ~= 2 or string.format("%d", 7) ~= "7" then
  found[#found + 1] = "builtins"
end
event.response.headers["x-leaks"] = table.concat(found, ",")
