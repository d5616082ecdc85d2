-- What the library modules refuse, by case (the path's last segment).
local case = event.params.case
if case == "readonly" then
  crypto.md5 = nil
elseif case == "rawset" then
  rawset(re, "match", nil)
elseif case == "setmetatable" then
  setmetatable(time, {})
elseif case == "limit" then
  return { content = { n = #base64.encode(string.rep("a", 3200000)) } }
elseif case == "random" then
  return { content = { n = #crypto.random_bytes(2 * 1024 * 1024) } }
elseif case == "argument" then
  return { content = { s = crypto.md5(nil) } }
elseif case == "require" then
  return { content = { ok = require("nope") } }
end
return { content = { case = case } }
