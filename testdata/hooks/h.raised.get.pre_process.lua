error({ status_code = 422, message = "Unprocessable thing" })
