-- Audit trail: after the response has gone, record who created what, through the table API
-- itself. Queued scripts get a copy of the event, so they may take their time.
if event.params.table_name == "audit" then return end
local created = event.response.content and event.response.content.resource or {}
for _, record in ipairs(created) do
  local r = platform.api.post("db/_table/audit", {
    event = event.name,
    table_name = event.params.table_name,
    record_id = record.id,
    user = platform.session.user,
    status = event.response.status_code,
  })
  if r.status_code ~= 201 then
    log.error("audit record not written", { status = r.status_code })
  end
end
