-- Calls itself without end: stopped at the depth limit.
return platform.api.get("deep/x")
