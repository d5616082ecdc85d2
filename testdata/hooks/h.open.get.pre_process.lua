error("an optional check failed")
