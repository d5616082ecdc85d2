describe("validation", function()
  it("refuses a customer without a name", function()
    local r = fastlua.request{ method = "POST", path = "/db/_table/customer", body = {} }
    assert.equals(400, r.status_code)
  end)
  it("passes a named one", function()
    local r = fastlua.request{ method = "POST", path = "/db/_table/customer", body = { name = "Ada" } }
    assert.equals(200, r.status_code)
    assert.is_true(r.content.payload.checked)
  end)
end)
