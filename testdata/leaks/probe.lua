return { status_code = 200, content = platform.api.get("peek/x").content }
