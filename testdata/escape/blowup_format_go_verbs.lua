-- expect: all refused: invalid option
-- Go's fmt syntax is not Lua's: each of these is refused before anything is built.
local s = ("x"):rep(1024 * 1024)
local missed = {}
for _, f in ipairs({ "%v", "%*d", "%[2]d", "%T", "%p", "%b", "%U", "%F", "%a", "%n", "%hd", "%ld", "%lld", "%w" }) do
  local ok, err = pcall(string.format, f, s, 1)
  if ok or not tostring(err):find("invalid option", 1, true) then missed[#missed + 1] = f .. ": " .. tostring(err):sub(1, 100) end
end
if #missed > 0 then error("accepted: " .. table.concat(missed, "; ")) end
error("all refused: invalid option")
