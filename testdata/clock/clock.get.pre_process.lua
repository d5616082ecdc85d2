-- Every clock a script can read: each follows Config.Clock.
local id = uuid.v7()
return {
  status_code = 200,
  content = {
    os_time = os.time(),
    time_now = time.now(),
    os_date = os.date("!%Y-%m-%d %H:%M:%S"),
    v7_ms = tonumber(id:sub(1, 8) .. id:sub(10, 13), 16),
  },
}
