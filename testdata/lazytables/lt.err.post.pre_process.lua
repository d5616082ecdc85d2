-- The payload raised: its status_code and message are the error's, as for any table.
error(event.request.payload)
