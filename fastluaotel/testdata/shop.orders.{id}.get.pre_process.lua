-- Checks the order's stock in process and its price upstream, logging as it goes.
log.info("checking order", { order = event.params.id })
local stock = platform.api.get("inventory/items/" .. event.params.id)
local price = platform.api.get(platform.config.upstream .. "/price/" .. event.params.id)
event.request.headers["x-stock"] = tostring(stock.content.stock)
event.request.headers["x-price"] = tostring(price.content.price)
