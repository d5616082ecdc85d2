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
