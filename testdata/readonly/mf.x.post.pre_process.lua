-- Read-only, runs after the writer: reading the re-encoded body must not look like a change.
local s = event.request.payload.s
