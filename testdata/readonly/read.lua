-- Reads only: allowed for a read-only script, and leaves the body byte for byte as it was.
local n = event.request.payload.name
local ua = event.request.headers["user-agent"]
local p = event.request.parameters["q"]
