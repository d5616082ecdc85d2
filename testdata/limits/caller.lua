-- A straight-line script (no loop, no function): it runs without per-instruction checks, but
-- the endless script it calls in process is still stopped, by the caller's time limit.
local r = platform.api.get("lim/endless")
return { status_code = 200, content = { nested_status = r.status_code } }
