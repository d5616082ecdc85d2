//go:build !race

package fastlua

import (
	"context"
	"fmt"
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

// Match, the lookup of a request's scripts among 10,000 patterns, allocates nothing.
func TestMatchAllocatesNothing(t *testing.T) {
	var scripts []Script
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("svc%d._table.t%d.get.pre_process", i%100, i)
		if i%10 == 0 { // a tenth with a placeholder
			name = fmt.Sprintf("svc%d.r%d.{id}.get.pre_process", (i/10)%100, i/1000)
		}
		scripts = append(scripts, Script{Name: name, Source: "local x = 1"})
	}
	scripts = append(scripts, Script{Name: "svc7.{path...}.get.queued", Source: "local x = 1"},
		Script{Name: "{svc}._table.{t}.get.post_process", Source: "local x = 1"})
	mw, err := New(Config{Scripts: scripts})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	var names []string
	mw.Match("GET", "/svc7/_table/t107", func(s Script) { names = append(names, s.Name) })
	if fmt.Sprint(names) != "[svc7._table.t107.get.pre_process {svc}._table.{t}.get.post_process svc7.{path...}.get.queued]" {
		t.Fatalf("Match: %v", names)
	}
	n := 0
	count := func(Script) { n++ }
	if a := testing.AllocsPerRun(200, func() { mw.Match("GET", "/svc7/_table/t107", count) }); a != 0 {
		t.Fatalf("%v allocations per lookup", a)
	}
}
