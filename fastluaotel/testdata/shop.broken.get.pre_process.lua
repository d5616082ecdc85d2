local order = nil
return order.total
