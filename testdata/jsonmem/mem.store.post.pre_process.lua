-- Stores a table whose JSON is 60 MiB (one 1 MiB string, sixty times): refused at the value limit.
local s = string.rep("x", 1024 * 1024)
local t = {}
for i = 1, 60 do
  t[i] = s
end
platform.store.set("big", t)
