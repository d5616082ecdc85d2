package fastlua

import (
	"reflect"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// The wrapped handler sees the placeholder bindings and the scripts of its request through
// UserValueMatch, while it runs, and nothing after.
func TestHandlerSeesTheMatch(t *testing.T) {
	type saw struct {
		table, rest string
		params      map[string]string
		ran, after  []string
		nilOutside  bool
	}
	var mu sync.Mutex
	var last saw
	handler := func(ctx *fasthttp.RequestCtx) {
		m := MatchOf(ctx)
		var s saw
		if m != nil {
			s.table, _ = m.Param("table_name")
			s.rest, _ = m.Param("rest")
			s.params = m.Params()
			s.ran, s.after = m.Scripts()
		}
		s.nilOutside = ctx.UserValue(UserValueMatch) != nil // set here
		mu.Lock()
		last = s
		mu.Unlock()
		ctx.SetBodyString("ok")
	}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "match")}, handler)

	if r := ts.do("GET", "/mt/_table/customer", ""); r.status != 200 || r.headers["x-post"] != "1" {
		t.Fatalf("got %d %v", r.status, r.headers)
	}
	mu.Lock()
	s := last
	mu.Unlock()
	want := saw{table: "customer", rest: "_table/customer",
		params:     map[string]string{"table_name": "customer", "rest": "_table/customer"},
		ran:        []string{"mt.{rest...}.get.pre_process", "mt._table.{table_name}.get.pre_process"}, // the broader first
		after:      []string{"mt._table.{table_name}.get.post_process"},
		nilOutside: true}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("the handler saw\n%+v\nwant\n%+v", s, want)
	}
	// A request no script matches: no Match.
	ts.do("GET", "/other/x", "")
	mu.Lock()
	s = last
	mu.Unlock()
	if s.params != nil || s.nilOutside {
		t.Fatalf("a request that matched no script had a Match: %+v", s)
	}
}
