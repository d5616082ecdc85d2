-- expect: all refused: more than the string limit
-- alloc: 64
-- upper, lower and reverse of a string past the limit (JSON text, bounded by the larger
-- Config.MaxJSONSize, may pass it), and upper of bytes that are not UTF-8
-- (each becomes three bytes).
local s = json.encode({ ("x"):rep(1024 * 1024), ("x"):rep(1024 * 1024) })
local missed = {}
for _, f in ipairs({ string.upper, string.lower, string.reverse }) do
  local ok, err = pcall(f, s)
  if ok or not tostring(err):find("more than the string limit", 1, true) then missed[#missed + 1] = tostring(err):sub(1, 100) end
end
local ok, err = pcall(string.upper, ("\255"):rep(512 * 1024))
if ok or not tostring(err):find("more than the string limit", 1, true) then missed[#missed + 1] = "invalid UTF-8: " .. tostring(err):sub(1, 100) end
if #missed > 0 then error("not refused: " .. table.concat(missed, "; ")) end
error("all refused: more than the string limit")
