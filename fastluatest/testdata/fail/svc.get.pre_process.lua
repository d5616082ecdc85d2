local b = event.request.body
