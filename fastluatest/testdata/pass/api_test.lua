describe("the test API", function()
  local count = 0
  before_each(function()
    count = count + 1
    fastlua.clock(0)
    fastlua.http("https://api.example.com/v1/", { status_code = 200, content = { pong = true } })
    fastlua.http("http://other.example.com:8080/", function(req)
      return { status_code = 204 }
    end)
  end)

  it("runs pre_process before the handler and stops it", function()
    local r = fastlua.request{ method = "POST", path = "/db/_table/customer", body = { email = "a@b.c" } }
    assert.equals(400, r.status_code)
    assert.equals("Name field is required", r.content.error.message)
    assert.equals("application/json", r.content_type)
    assert.equals(0, #fastlua.handler_calls())
    assert.equals(1, fastlua.store.get("created")) -- queued scripts run on an error response too
  end)

  it("runs the queued scripts before fastlua.request returns", function()
    local r = fastlua.request{ method = "POST", path = "/db/_table/customer", body = { name = "Ada" } }
    assert.equals(200, r.status_code)
    assert.equals("1970-01-01T00:00:00Z", r.content.payload.created_at)
    assert.equals(1, fastlua.store.get("created"))
    assert.same({ pong = true }, fastlua.store.get("ping"))
    assert.equals(204, fastlua.store.get("other"))
    assert.equals("validated", fastlua.logs()[1].message)
    assert.equals("Ada", fastlua.logs()[1].fields.name)
    assert.equals("db._table.customer.post.pre_process", fastlua.logs()[1].script)
  end)

  it("starts each test afresh", function()
    assert.equals(nil, fastlua.store.get("created"))
    assert.equals(0, #fastlua.handler_calls())
    assert.equals(3, count)
  end)

  it("passes config, session, query and headers", function()
    fastlua.config({ region = "eu" })
    fastlua.session({ user = "ada" })
    fastlua.clock(1700000000)
    local r = fastlua.request{ path = "/svc/bob", query = { a = "1 2" }, headers = { ["X-Trace"] = "t" } }
    assert.equals("bob", r.headers["x-name"])
    assert.equals("ada", r.headers["x-user"])
    assert.equals("eu", r.headers["x-region"])
    assert.equals("1700000000", r.headers["x-now"])
    assert.equals("1 2", r.content.query.a)
    assert.equals("t", r.content.headers["x-trace"])
    assert.equals("hello\tbob", fastlua.logs()[1].message)
    assert.equals("info", fastlua.logs()[1].level)
  end)

  it("lets a test replace the handler", function()
    fastlua.handler(function(req)
      return { status_code = 418, headers = { ["X-Teapot"] = "yes" }, content = { got = req.path } }
    end)
    local r = fastlua.request{ path = "/svc/x" }
    assert.equals(418, r.status_code)
    assert.equals("yes", r.headers["x-teapot"])
    assert.same({ got = "/svc/x" }, r.content)
    assert.equals("/svc/x", fastlua.handler_calls()[1].path)
  end)

  it("has the assertions", function()
    assert.is_true(true)
    assert.is_false(false)
    assert.is_nil(nil)
    assert.is_not_nil(0)
    assert.matches("^a%d+$", "a12")
    assert.same({ 1, { b = 2 } }, { 1, { b = 2 } })
    assert.has_error(function() error("boom") end, "boom")
    assert.has_error(function() error({ status_code = 400, message = "bad" }) end, "bad")
    assert.has_error(function() local x = nil; return x.y end)
    assert.equals("[1,2]", json.encode({ 1, 2 }))
  end)
end)
