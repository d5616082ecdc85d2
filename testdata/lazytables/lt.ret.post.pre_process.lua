-- The payload returned as the response: its status_code, headers and content are the response's,
-- as for any table.
return event.request.payload
