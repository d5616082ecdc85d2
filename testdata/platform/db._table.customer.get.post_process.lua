-- DreamFactory's post_process example: add a custom field and data from another service.
local content = event.response.content
content.custom_field = "custom value"
local related = platform.api.get("related_service/data")
content.related_data = related.content
