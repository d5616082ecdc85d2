-- DreamFactory's example-scripts v8js/filter_related_records, ported to Lua field by field:
-- GET db/_table/contact?related=contact_info_by_contact_id&contact_info_by_contact_id_filter=...
-- keeps only the related records that match the filter.
local relationship_name = "contact_info_by_contact_id"
local related_filter_name = "contact_info_by_contact_id_filter"
local related_service_name = "db"
local related_table_name = "contact_info"
local related_id_field = "id"
local related_endpoint = related_service_name .. "/_table/" .. related_table_name
local options = {}
options.parameters = {}
local params = event.request.parameters

if params.related ~= nil then
  if params[related_filter_name] ~= nil then
    if string.find("," .. params.related .. ",", "," .. relationship_name .. ",", 1, true) then
      options.parameters.fields = related_id_field
      options.parameters.filter = params[related_filter_name]

      local related_result = platform.api.get(related_endpoint, nil, options)

      local data = related_result.content
      if data.error then error(data.error.message) end
      if not data.resource then error("No records in response") end
      local ids = {}
      for _, record in ipairs(data.resource) do ids[record[related_id_field]] = true end
      for _, parent_record in ipairs(event.response.content.resource) do
        local kept = {}
        for _, obj in ipairs(parent_record[relationship_name]) do
          if ids[obj.id] then kept[#kept + 1] = obj end
        end
        parent_record[relationship_name] = kept
      end
    end
  end
end
