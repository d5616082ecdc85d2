local x = 1
if then
