-- expect: is not a valid URL
platform.api.get("http://")
