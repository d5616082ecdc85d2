-- Two endpoints that call each other four times each, without end: 4^8 calls unless
-- Config.MaxAPICalls stops them.
local other = event.params.side == "a" and "fan/b" or "fan/a"
for i = 1, 4 do platform.api.get(other) end
return { content = { side = event.params.side } }
