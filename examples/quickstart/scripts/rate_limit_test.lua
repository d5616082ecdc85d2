-- Tests of db.{path...}.{verb}.pre_process.lua, the rate limit on platform.store.

describe("rate limit", function()
  before_each(function()
    fastlua.prefix("/api/v2")
    fastlua.config({ api_keys = { ["demo-key"] = "demo" }, rate_limit = 2 })
  end)

  local function get()
    return fastlua.request{ path = "/api/v2/db/_table/customer", headers = { ["X-Api-Key"] = "demo-key" } }
  end

  it("counts the requests of a key and says what is left", function()
    local r = get()
    assert.equals(200, r.status_code)
    assert.equals("2", r.headers["x-ratelimit-limit"])
    assert.equals("1", r.headers["x-ratelimit-remaining"])
    assert.equals(1, fastlua.store.get("rate:demo-key"))
  end)

  it("answers 429 past the limit", function()
    get()
    get()
    local r = get()
    assert.equals(429, r.status_code)
    assert.equals("Too Many Requests: 2 per minute", r.content.error.message)
  end)

  it("starts from the store's count", function()
    fastlua.store.set("rate:demo-key", 2, 60) -- a window nearly used up
    assert.equals(429, get().status_code)
  end)
end)
