-- fastlua: time_limit = 20s
-- After the answer: the new order goes to the audit service (EDGE_AUDIT_URL), if there is one.
-- Queued scripts run after every answer, a refused request's too: only created orders count.
if event.response.status_code ~= 201 then
	return
end
local order = event.response.content
local url = platform.config.audit_url
if url == nil or url == "" then
	log.info("audit skipped: no EDGE_AUDIT_URL", { order = order and order.id })
	return
end
local r = platform.api.post(url, { order = order.id, item = order.item, request_id = event.request.id })
if r.status_code ~= 200 then
	error("the audit service answered " .. r.status_code)
end
metrics.incr("orders_audited")
log.info("audit sent", { order = order.id })
