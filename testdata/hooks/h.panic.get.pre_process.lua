boom()
