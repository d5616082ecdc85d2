error("after the handler")
