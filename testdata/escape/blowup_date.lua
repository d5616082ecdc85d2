-- expect: os.date: the format
-- Each conversion writes up to ~25 bytes: the format's length is bounded.
os.date(("%c"):rep(100000))
