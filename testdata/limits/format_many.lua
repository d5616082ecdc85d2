string.format(("%99d"):rep(20000), 1)
