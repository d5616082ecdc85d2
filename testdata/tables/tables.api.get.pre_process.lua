-- DreamFactory's table-endpoint-obfuscation example: the event's own objects as options.
return platform.api.get("tables/echo", event.request.payload, { parameters = event.request.parameters })
