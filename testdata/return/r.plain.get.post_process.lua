return { hello = "world" }
