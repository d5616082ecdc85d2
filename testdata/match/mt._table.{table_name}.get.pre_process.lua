event.request.headers["x-pre"] = event.params.table_name
