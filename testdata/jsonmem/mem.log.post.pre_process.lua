-- Logs a table whose JSON is 60 MiB (one 1 MiB string, sixty times) as a field: cut at the log budget.
local s = string.rep("x", 1024 * 1024)
local t = {}
for i = 1, 60 do
  t[i] = s
end
log.info("a big field", {big = t})
