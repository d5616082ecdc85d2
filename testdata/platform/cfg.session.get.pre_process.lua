-- The session is shared with the platform.api calls of the request.
local inner = platform.api.get("cfg/whoami")
return { content = { outer = platform.session.name, inner = inner.content.user } }
