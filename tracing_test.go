package fastlua

import (
	"context"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// nilTracer is a Tracer that gives back neither a context nor an end function, and records the
// spans it was asked for.
type nilTracer struct {
	mu     sync.Mutex
	starts []SpanStart
}

func (n *nilTracer) Start(_ context.Context, _ *fasthttp.RequestCtx, s SpanStart) (context.Context, func(SpanEnd)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.starts = append(n.starts, s)
	return nil, nil
}

func (n *nilTracer) Inject(context.Context, *fasthttp.RequestHeader) {}

func (n *nilTracer) LogAttrs(_ context.Context, attrs []any) []any { return attrs }

// A Tracer that returns nil from Start neither crashes the request nor makes the middleware
// start its spans again and again: each phase and script gets one span.
func TestTracerReturningNil(t *testing.T) {
	var tr nilTracer
	var h echo
	ts := serve(t, Config{Tracer: &tr, Scripts: []Script{
		{Name: "t.x.get.pre_process", Source: `log.info("pre")`},
		{Name: "t.x.get.post_process", Source: `event.response.headers["x-post"] = "1"`},
	}}, h.handle)
	if r := ts.do("GET", "/t/x", ""); r.status != 200 || r.headers["x-post"] != "1" {
		t.Fatalf("%d %v", r.status, r.headers)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var kinds []string
	for _, s := range tr.starts {
		kinds = append(kinds, s.Kind.String()+":"+s.Phase+":"+s.Script)
	}
	want := []string{"request::", "phase:pre_process:", "script:pre_process:t.x.get.pre_process",
		"phase:post_process:", "script:post_process:t.x.get.post_process"}
	if len(kinds) != len(want) {
		t.Fatalf("spans %q, want %q", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("spans %q, want %q", kinds, want)
		}
	}
}
