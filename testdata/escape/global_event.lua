-- expect: read-only global
-- Replacing event for the scripts that follow.
event = { request = {} }
