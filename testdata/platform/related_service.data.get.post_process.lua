-- The target's own scripts run for in-process calls.
event.response.content.via = "related_service script"
event.response.content.caller_key = event.request.headers["x-api-key"]
