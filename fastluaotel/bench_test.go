package fastluaotel_test

import (
	"context"
	"testing"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaotel"
	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// What tracing costs when it is on: the bench package's trivial pre_process script, with every
// span recorded (three per request: the request, the phase, the script) into an exporter that
// is reset as it goes. Without a Tracer the same request allocates nothing
// (bench.BenchmarkPreProcessTrivial).
func BenchmarkPreProcessTraced(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	mw, err := fastlua.New(fastlua.Config{Prefix: "/api/v2", Tracer: fastluaotel.New(fastluaotel.Config{TracerProvider: tp}),
		Scripts: []fastlua.Script{{Name: "bench.item.get.pre_process", Source: `
local id = event.request.headers["x-request-id"]
if id == nil then event.request.headers["x-request-id"] = "generated" end`}}})
	if err != nil {
		b.Fatal(err)
	}
	defer mw.Close(context.Background())
	h := mw.Wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) })
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/api/v2/bench/item")
	ctx.Request.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ctx.Request.Header.Del("X-Request-Id")
		h(ctx)
		if n++; n%1024 == 0 {
			exp.Reset()
		}
	}
	if len(exp.GetSpans()) == 0 && n < 1024 {
		b.Fatal("no spans")
	}
}
