-- The in-process call's own script.
event.request.headers["x-inventory-checked"] = "yes"
