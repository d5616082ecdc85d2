-- gopher-lua would fill the array part with 60 million nils in one instruction.
local t = {}
t[60000000] = 1
return { content = { ok = t[60000000] == 1 } }
