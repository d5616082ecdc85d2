-- Fields from a lazily decoded body and from an event's key/value object.
log.info("body", event.response.content)
log.info("headers", event.request.headers)
