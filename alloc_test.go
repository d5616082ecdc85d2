//go:build !race

package fastlua

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"
)

// A request that matches no script allocates nothing, with or without scripts on other
// services, and so does a trivial pre_process script that reads and writes a header.
func TestZeroAllocations(t *testing.T) {
	mw, err := New(Config{Prefix: "/api/v2", Scripts: []Script{
		{Name: "db._table.{table_name}.get.pre_process", Source: `
local id = event.request.headers["x-request-id"]
if id == nil then event.request.headers["x-request-id"] = "generated" end`},
		{Name: "db._table.{table_name}.get.post_process", Source: `event.response.headers["x-scripted"] = "1"`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	h := mw.Wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) })
	for _, c := range []struct{ name, uri string }{
		{"outside the prefix", "/static/app.js"},
		{"no script for the service", "/api/v2/files/report.pdf"},
		{"pre and post scripts", "/api/v2/db/_table/customer"},
	} {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.SetRequestURI(c.uri)
		h(ctx) // warm up: states, caches
		if n := testing.AllocsPerRun(200, func() {
			ctx.Request.Header.Del("X-Request-Id")
			h(ctx)
		}); n != 0 {
			t.Errorf("%s: %v allocations per request", c.name, n)
		}
	}
}
