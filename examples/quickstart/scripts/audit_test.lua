-- Tests of db._table.{table_name}.post.queued.lua, the audit trail written after the response.

describe("audit trail", function()
  before_each(function()
    fastlua.prefix("/api/v2")
    fastlua.config({ api_keys = { ["demo-key"] = "demo" }, rate_limit = 100 })
    fastlua.session({ user = "demo", api_key = "demo-key" })
    fastlua.handler(function(req)
      if req.path == "/api/v2/db/_table/audit" then
        return { status_code = 201, content = { resource = { { id = 99 } } } }
      end
      return { status_code = 201, content = { resource = { { id = 5, name = req.payload.name } } } }
    end)
  end)

  it("records who created what", function()
    local r = fastlua.request{ method = "POST", path = "/api/v2/db/_table/customer",
      headers = { ["X-Api-Key"] = "demo-key" }, body = { name = "Ada" } }
    assert.equals(201, r.status_code)
    -- queued scripts have run when fastlua.request returns
    local calls = fastlua.handler_calls()
    assert.equals(2, #calls)
    assert.equals("/api/v2/db/_table/audit", calls[2].path)
    assert.same({ event = "db._table.customer.post.queued", table_name = "customer", record_id = 5,
      user = "demo", status = 201 }, calls[2].payload)
  end)

  it("logs an audit record that was not written", function()
    fastlua.handler(function(req)
      if req.path == "/api/v2/db/_table/audit" then
        return { status_code = 500, content = { error = { code = 500, message = "disk full" } } }
      end
      return { status_code = 201, content = { resource = { { id = 5 } } } }
    end)
    fastlua.request{ method = "POST", path = "/api/v2/db/_table/customer",
      headers = { ["X-Api-Key"] = "demo-key" }, body = { name = "Ada" } }
    local logs = fastlua.logs()
    assert.equals(1, #logs)
    assert.equals("error", logs[1].level)
    assert.equals("audit record not written", logs[1].message)
    assert.equals(500, logs[1].fields.status)
  end)
end)
