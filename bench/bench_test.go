package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

// The scripts of ../shared/bench/sidebyside.sh.
const (
	preScript = `local id = event.request.headers["x-request-id"]
if id == nil then event.request.headers["x-request-id"] = "generated" end`
	postScript = `event.response.headers["x-scripted"] = "1"`
)

func newMiddleware(b *testing.B, scripts ...fastlua.Script) *fastlua.Middleware {
	b.Helper()
	mw, err := fastlua.New(fastlua.Config{Prefix: "/api/v2", Scripts: scripts})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mw.Close(context.Background()) })
	return mw
}

func okHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"ok":true}`)
}

func newCtx(method, uri string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	return ctx
}

// A request whose path matches no script, with scripts installed on other services.
func BenchmarkDispatchNoScript(b *testing.B) {
	var scripts []fastlua.Script
	for i := 0; i < 100; i++ {
		scripts = append(scripts, fastlua.Script{Name: fmt.Sprintf("svc%d._table.{t}.get.pre_process", i), Source: preScript})
	}
	h := newMiddleware(b, scripts...).Wrap(func(*fasthttp.RequestCtx) {})
	ctx := newCtx("GET", "/api/v2/other/_table/customer")
	b.ReportAllocs()
	for b.Loop() {
		h(ctx)
	}
}

// A pre_process script that reads one request header and sets it when missing.
func BenchmarkPreProcessTrivial(b *testing.B) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.pre_process", Source: preScript}).Wrap(okHandler)
	ctx := newCtx("GET", "/api/v2/bench/item")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Header.Del("X-Request-Id")
		h(ctx)
	}
	if string(ctx.Request.Header.Peek("X-Request-Id")) != "generated" {
		b.Fatal("the script did not run")
	}
}

// A pre_process script that makes one in-process platform.api.get and answers with its result,
// against the handler called directly.
func BenchmarkPlatformAPIGet(b *testing.B) {
	data := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":7,"name":"item"}`)
	}
	b.Run("script", func(b *testing.B) {
		h := newMiddleware(b, fastlua.Script{Name: "bench.proxy.get.pre_process",
			Source: `return platform.api.get("bench/data")`}).Wrap(data)
		ctx := newCtx("GET", "/api/v2/bench/proxy")
		b.ReportAllocs()
		for b.Loop() {
			h(ctx)
		}
		if string(ctx.Response.Body()) != `{"id":7,"name":"item"}` {
			b.Fatalf("body %s", ctx.Response.Body())
		}
	})
	b.Run("handler-direct", func(b *testing.B) {
		ctx := newCtx("GET", "/api/v2/bench/data")
		b.ReportAllocs()
		for b.Loop() {
			data(ctx)
		}
	})
}
