-- The same long string many times: little memory, a huge JSON text.
local s = ("x"):rep(100000)
local t = {}
for i = 1, 100 do t[i] = s end
event.response.content = t
