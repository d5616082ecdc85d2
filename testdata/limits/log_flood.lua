-- Logs far more than Config.MaxLogSize, through every way out, and must still succeed.
local big = string.rep("L", 4096)
for i = 1, 200 do
  log.error(big, { field = big, n = i, t = { big } })
  print(big, big)
end
return { content = { done = true } }
