return { status_code = 200, content = { leak = tostring(leak), outer = tostring(outer_global) } }
