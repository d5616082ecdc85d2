-- The nested request inherits the caller's headers (two X-Role copies) and its target carries
-- two role parameters: options replace them.
return platform.api.get("dup/echo?role=user&role=user&keep=1", nil,
	{ headers = { ["X-Role"] = "admin" }, parameters = { role = "admin" } })
