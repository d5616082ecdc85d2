-- expect: event.request cannot be changed
-- Replace the event's sub-objects for later runs.
event.request = {}
