-- Enrichment: add a computed field to every record of a list.
local content = event.response.content
if type(content) == "table" and content.resource then
  for _, record in ipairs(content.resource) do
    record.display = string.upper(record.name or "")
  end
end
event.response.headers["x-table"] = event.params.table_name
