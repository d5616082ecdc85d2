-- Replace the content with a new table; the status stays.
event.response.content = { deleted = true, list = { 1, 2, 3 } }
