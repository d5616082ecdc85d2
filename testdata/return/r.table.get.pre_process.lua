return { status_code = 201, content = { made = true }, headers = { ["x-made"] = "yes" } }
