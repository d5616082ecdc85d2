-- expect: more than the string limit
-- alloc: 16
-- %q writes a zero byte as four: the result is measured before it is built.
string.format("%q", ("\0"):rep(400 * 1024))
