package bench

import (
	"bytes"
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

// A pre_process script that builds one header from another with `..`: two short strings.
func BenchmarkPreProcessConcat(b *testing.B) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.pre_process", Source: `local token = event.request.headers["x-token"]
event.request.headers["authorization"] = "Bearer " .. token`}).Wrap(okHandler)
	ctx := newCtx("GET", "/api/v2/bench/item")
	ctx.Request.Header.Set("X-Token", "0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		h(ctx)
	}
	if string(ctx.Request.Header.Peek("Authorization")) != "Bearer 0123456789abcdef" {
		b.Fatalf("the script did not run: %q", ctx.Request.Header.Peek("Authorization"))
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

// patterns returns n event patterns over 100 services, a tenth of them with a placeholder, and
// paths that match them.
func patterns(n int) ([]fastlua.Script, []string) {
	var scripts []fastlua.Script
	var paths []string
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			scripts = append(scripts, fastlua.Script{Name: fmt.Sprintf("svc%d.r%d.{id}.get.pre_process", (i/10)%100, i/1000), Source: "local x = 1"})
			paths = append(paths, fmt.Sprintf("/svc%d/r%d/item-%d", (i/10)%100, i/1000, i))
		} else {
			scripts = append(scripts, fastlua.Script{Name: fmt.Sprintf("svc%d._table.t%d.get.pre_process", i%100, i), Source: "local x = 1"})
			paths = append(paths, fmt.Sprintf("/svc%d/_table/t%d", i%100, i))
		}
	}
	return scripts, paths
}

// Finding the scripts of a request among 1,000 and 10,000 patterns (Middleware.Match: the
// lookup the middleware does per request, without running anything).
func BenchmarkTrieLookup(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			scripts, paths := patterns(n)
			mw, err := fastlua.New(fastlua.Config{Scripts: scripts})
			if err != nil {
				b.Fatal(err)
			}
			defer mw.Close(context.Background())
			found := 0
			count := func(fastlua.Script) { found++ }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				mw.Match("GET", paths[i%len(paths)], count)
				i++
			}
			if found != i {
				b.Fatalf("%d matches for %d lookups", found, i)
			}
		})
	}
}

// A post_process script that adds one response header.
func BenchmarkPostProcessHeader(b *testing.B) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.post_process", Source: postScript}).Wrap(okHandler)
	ctx := newCtx("GET", "/api/v2/bench/item")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
	if string(ctx.Response.Header.Peek("X-Scripted")) != "1" {
		b.Fatal("the script did not run")
	}
}

// jsonDoc is about 1 KB of typical API JSON.
const jsonDoc = `{"resource":[{"id":1,"name":"Ada Lovelace","email":"ada@example.com","active":true,"score":98.5,"tags":["math","poetry"],"address":{"city":"London","zip":"W1"}},{"id":2,"name":"Alan Turing","email":"alan@example.com","active":false,"score":87.25,"tags":["crypto"],"address":{"city":"Wilmslow","zip":"SK9"}},{"id":3,"name":"Grace Hopper","email":"grace@example.com","active":true,"score":91,"tags":["cobol","navy"],"address":{"city":"New York","zip":"10001"}},{"id":4,"name":"Edsger Dijkstra","email":"ewd@example.com","active":true,"score":99.9,"tags":["algorithms"],"address":{"city":"Austin","zip":"78701"}},{"id":5,"name":"Barbara Liskov","email":"liskov@example.com","active":true,"score":95,"tags":["abstraction","distributed"],"address":{"city":"Cambridge","zip":"02139"}}],"meta":{"count":5,"next":null}}`

// A post_process script that changes one field of a 1 KB JSON response: decode, change,
// re-encode.
func BenchmarkPostProcessJSON(b *testing.B) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.post_process",
		Source: `event.response.content.meta.count = 6`}).Wrap(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(jsonDoc)
	})
	ctx := newCtx("GET", "/api/v2/bench/item")
	b.SetBytes(int64(len(jsonDoc)))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(ctx)
	}
	if !bytes.Contains(ctx.Response.Body(), []byte(`"count":6`)) {
		b.Fatalf("body %s", ctx.Response.Body())
	}
}

// BenchmarkPreProcessTrivial's script on all cores at once.
func BenchmarkPreProcessParallel(b *testing.B) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.pre_process", Source: preScript}).Wrap(okHandler)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx("GET", "/api/v2/bench/item")
		for pb.Next() {
			ctx.Request.Header.Del("X-Request-Id")
			h(ctx)
		}
	})
}
