-- Writes a value whose JSON form differs from it (invalid UTF-8 becomes U+FFFD).
event.request.payload.s = "\255"
