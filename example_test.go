package fastlua_test

import (
	"context"
	"fmt"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

// A pre_process script validates a payload and stamps it; a post_process script adds a field to
// the handler's JSON answer.
func Example() {
	mw, err := fastlua.New(fastlua.Config{
		Prefix: "/api/v2",
		Scripts: []fastlua.Script{
			{
				Name: "db._table.{table_name}.post.pre_process",
				Source: `
local payload = event.request.payload
if payload == nil or payload.name == nil then
  error({ status_code = 400, message = "Name field is required" })
end
payload.table = event.params.table_name`,
			},
			{
				Name:   "db._table.{table_name}.post.post_process",
				Source: `event.response.content.checked = true`,
			},
		},
	})
	if err != nil {
		panic(err)
	}
	defer mw.Close(context.Background())

	// The handler echoes the body it received.
	handler := mw.Wrap(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(ctx.PostBody())
	})

	for _, body := range []string{`{"email":"ada@example.com"}`, `{"name":"Ada"}`} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/api/v2/db/_table/customer")
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBodyString(body)
		handler(&ctx)
		fmt.Println(ctx.Response.StatusCode(), string(ctx.Response.Body()))
	}
	// Output:
	// 400 {"error":{"code":400,"message":"Name field is required"}}
	// 200 {"checked":true,"name":"Ada","table":"customer"}
}
