-- An order id is a number: anything else is refused before the API sees it.
if not string.match(event.params.id, "^%d+$") then
	error({ status_code = 400, message = "the order id must be a number" })
end
metrics.incr("order_reads")
