-- expect: nested deeper than
json.decode(("["):rep(100000))
