error({ status_code = 403, message = "not your order" })
