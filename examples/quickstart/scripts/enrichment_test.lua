-- Tests of db._table.customer.{id}.get.post_process.lua, the enrichment through platform.api.

describe("customer enrichment", function()
  before_each(function()
    fastlua.prefix("/api/v2")
    fastlua.config({ api_keys = { ["demo-key"] = "demo" }, rate_limit = 100 })
    -- The table API: a customer, and the orders of customer 7.
    fastlua.handler(function(req)
      if req.path == "/api/v2/db/_table/customer/7" then
        return { status_code = 200, content = { id = 7, name = "Ada" } }
      elseif req.path == "/api/v2/db/_table/order" then
        assert.equals("customer_id=7", req.query.filter)
        return { status_code = 200, content = { resource = { { id = 1, total = 30 } } } }
      end
      return { status_code = 404, content = { error = { code = 404, message = "not found" } } }
    end)
  end)

  it("adds the customer's orders", function()
    local r = fastlua.request{ path = "/api/v2/db/_table/customer/7", headers = { ["X-Api-Key"] = "demo-key" } }
    assert.equals(200, r.status_code)
    assert.same({ id = 7, name = "Ada", orders = { { id = 1, total = 30 } } }, r.content)
    -- the customer, then the orders (made in process, with the caller's key)
    local calls = fastlua.handler_calls()
    assert.equals(2, #calls)
    assert.equals("demo-key", calls[2].headers["x-api-key"])
  end)

  it("leaves an error alone", function()
    local r = fastlua.request{ path = "/api/v2/db/_table/customer/8", headers = { ["X-Api-Key"] = "demo-key" } }
    assert.equals(404, r.status_code)
    assert.equals(1, #fastlua.handler_calls())
  end)
end)
