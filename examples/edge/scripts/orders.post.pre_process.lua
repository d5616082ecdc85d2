-- A new order names its item.
local order = event.request.payload
if type(order) ~= "table" or type(order.item) ~= "string" or order.item == "" then
	error({ status_code = 422, message = "item is required" })
end
event.request.headers["x-edge-checked"] = "yes"
