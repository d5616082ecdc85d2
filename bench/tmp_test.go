package bench

import (
	"testing"

	"github.com/fastlua/fastlua"
)

func benchSrc(b *testing.B, src string) {
	h := newMiddleware(b, fastlua.Script{Name: "bench.item.get.pre_process", Source: src}).Wrap(okHandler)
	ctx := newCtx("GET", "/api/v2/bench/item")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Header.Del("X-Request-Id")
		h(ctx)
	}
}

func BenchmarkTmp1Empty(b *testing.B)   { benchSrc(b, "local x = 1") }
func BenchmarkTmp2Event(b *testing.B)   { benchSrc(b, "local x = event") }
func BenchmarkTmp3Request(b *testing.B) { benchSrc(b, "local x = event.request") }
func BenchmarkTmp4Headers(b *testing.B) { benchSrc(b, "local x = event.request.headers") }
func BenchmarkTmp5Read(b *testing.B)    { benchSrc(b, `local x = event.request.headers["x-request-id"]`) }
func BenchmarkTmp6Write(b *testing.B)   { benchSrc(b, `event.request.headers["x-request-id"] = "generated"`) }
func BenchmarkTmp7Both(b *testing.B)    { benchSrc(b, preScript) }
