log.info("queued ran", { status = event.response.status_code })
