log.info("order audited", { order = event.params.id })
