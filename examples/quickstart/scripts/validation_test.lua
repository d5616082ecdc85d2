-- Tests of db._table.customer.post.pre_process.lua, the validation script.
-- Run them with: fastlua test -prefix /api/v2 examples/quickstart/scripts  (or go test ./...)

describe("customer validation", function()
  before_each(function()
    -- What the quickstart's Go program configures, and a fixed clock for created_at.
    fastlua.prefix("/api/v2")
    fastlua.config({ api_keys = { ["demo-key"] = "demo" }, rate_limit = 100 })
    fastlua.clock(1700000000)
  end)

  local function post(body)
    return fastlua.request{
      method = "POST",
      path = "/api/v2/db/_table/customer",
      headers = { ["X-Api-Key"] = "demo-key" },
      body = body,
    }
  end

  it("rejects a customer without a name", function()
    local r = post({ email = "ada@example.com" })
    assert.equals(400, r.status_code)
    assert.equals("Name field is required (record 1)", r.content.error.message)
    assert.equals(0, #fastlua.handler_calls()) -- the table API never saw it
  end)

  it("rejects a body that is not JSON", function()
    local r = post("name=Ada")
    assert.equals(400, r.status_code)
    assert.matches("must be a JSON record", r.content.error.message)
  end)

  it("checks every record of a batch", function()
    local r = post({ resource = { { name = "Ada" }, { name = "" } } })
    assert.equals(400, r.status_code)
    assert.equals("Name field is required (record 2)", r.content.error.message)
  end)

  it("stamps a valid customer with created_at", function()
    local r = post({ name = "Ada" })
    assert.equals(200, r.status_code) -- the default handler echoes what it received
    assert.same({ name = "Ada", created_at = "2023-11-14T22:13:20Z" }, r.content.payload)
  end)
end)
