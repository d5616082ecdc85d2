-- Enrichment: a customer comes with its orders, fetched in process from the order table
-- (the call goes through the same scripts, with the caller's API key).
if event.response.status_code ~= 200 then return end
local orders = platform.api.get("db/_table/order", nil, {
  parameters = { filter = "customer_id=" .. event.params.id },
})
event.response.content.orders = orders.content.resource or json.empty_array
