-- Tests of db._table.{rest...}.{verb}.pre_process.lua, the API key check.

describe("API key check", function()
  before_each(function()
    fastlua.prefix("/api/v2")
    fastlua.config({ api_keys = { ["demo-key"] = "demo" }, rate_limit = 100 })
  end)

  it("refuses a request without a key", function()
    local r = fastlua.request{ path = "/api/v2/db/_table/customer" }
    assert.equals(401, r.status_code)
    assert.equals("a valid X-Api-Key header is required", r.content.error.message)
    assert.equals(0, #fastlua.handler_calls())
  end)

  it("refuses an unknown key", function()
    local r = fastlua.request{ path = "/api/v2/db/_table/customer", headers = { ["X-Api-Key"] = "guess" } }
    assert.equals(401, r.status_code)
  end)

  it("lets a known key through, whatever the verb", function()
    for _, method in ipairs({ "GET", "DELETE" }) do
      local r = fastlua.request{ method = method, path = "/api/v2/db/_table/order", headers = { ["X-Api-Key"] = "demo-key" } }
      assert.equals(200, r.status_code)
      assert.equals(method, r.content.method)
    end
  end)
end)
