-- fastlua: allow_event_modification = false
-- Changes a field of a lazily decoded object: refused.
event.response.content.resource[1].address.city = "Paris"
