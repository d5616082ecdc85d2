-- The event objects go wherever tables go.
local p = event.request.parameters
local names = {}
for k in pairs(p) do names[#names + 1] = k end
table.sort(names)
local first = next(p)
local seen = {}
local k, v = next(p)
while k do
	seen[#seen + 1] = k .. "=" .. v
	k, v = next(p, k)
end
table.sort(seen)
return {
	status_code = 200,
	headers = p, -- repeated values stay repeated
	content = {
		names = names,
		next_all = seen,
		first_ok = first ~= nil,
		len = #p,
		params = p, -- encoded by json.encode as a table
		encoded = json.decode(json.encode(p)),
		request = json.decode(json.encode(event.request)),
		str = tostring(p),
		req_str = tostring(event.request),
	},
}
