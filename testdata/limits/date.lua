os.date(("%c"):rep(200000))
