log.info("from the queue")
