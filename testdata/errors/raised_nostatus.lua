error({ message = "no status given" })
