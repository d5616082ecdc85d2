local payload = event.request.payload
if type(payload) ~= "table" or payload.name == nil then
  error({ status_code = 400, message = "Name field is required" })
end
payload.checked = true
log.info("validated", { name = payload.name })
