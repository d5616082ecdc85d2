package fastlua

import (
	"errors"
	"testing"
)

func TestPatternsAndOrder(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Prefix: "/api/v2", Scripts: scriptsFrom(t, "order")}, h.handle)
	cases := []struct {
		method, path string
		order        string // x-order as the handler received it; "" for no script
	}{
		// Least specific first: two placeholders, then {path...}, then {table_name}, then none.
		{"GET", "/api/v2/db/_table/customer", "anyverb:get,svc+table:db/customer,catchall:_table/customer,generic:customer,specific"},
		{"GET", "/api/v2/db/_table/orders", "anyverb:get,svc+table:db/orders,catchall:_table/orders,generic:orders"},
		{"GET", "/api/v2/files/_table/x", "svc+table:files/x"},
		// A service pattern fires for its own path only; {path...} needs at least one segment.
		{"GET", "/api/v2/db", "service"},
		{"GET", "/api/v2/db/", "service"},
		{"GET", "/api/v2/db/_table", "anyverb:get,catchall:_table"},
		{"GET", "/api/v2/db/a/b/c/d", "anyverb:get,catchall:a/b/c/d"},
		// A segment holding a dot matches one placeholder.
		{"GET", "/api/v2/files/report.pdf", "file:report.pdf"},
		// Another verb.
		{"POST", "/api/v2/db/_table/customer", "anyverb:post,post-verb"},
		{"DELETE", "/api/v2/db/_table/customer", "anyverb:delete"},
		// Outside the prefix, or no service: nothing runs.
		{"GET", "/db/_table/customer", ""},
		{"GET", "/api/v2x/db/_table/customer", ""},
		{"GET", "/api/v2", ""},
		{"GET", "/api/v2/", ""},
		{"GET", "/api/v2/unknown/x", ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := ts.do(c.method, c.path, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := h.lastSeen().Headers["x-order"]; got != c.order {
				t.Fatalf("x-order = %q, want %q", got, c.order)
			}
		})
	}
	ts.do("GET", "/api/v2/db/_table/customer", "")
	got := h.lastSeen().Headers
	if got["x-event"] != "db._table.customer.get.pre_process" || got["x-resource"] != "_table/customer" || got["x-service"] != "db" {
		t.Fatalf("event fields: name %q resource %q service %q", got["x-event"], got["x-resource"], got["x-service"])
	}
}

// A pattern either fails to parse with a *PatternError, or the trie matches exactly the paths
// the reference matcher does.
func FuzzPatternMatch(f *testing.F) {
	for _, seed := range [][3]string{
		{"db._table.{table_name}.get.pre_process", "/db/_table/customer", "GET"},
		{"db.{path...}.{verb}.post_process", "/db/a/b/c", "DELETE"},
		{"{svc}.x.get.queued", "/anything/x", "get"},
		{"files.{name}.get.pre_process", "/files/report.pdf", "GET"},
		{"db.get.pre_process", "/db/_table", "GET"},
		{"a.b.{c}.{d...}.put.pre_process", "//a//b/c/d/e/", "PUT"},
		{"a..get.pre_process", "/a", "GET"},
		{"{x...}.get.pre_process", "/x", "GET"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, text, path, method string) {
		p, err := parsePattern(text)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("parsePattern(%q): %T %v", text, err, err)
			}
			return
		}
		if again, err := parsePattern(p.text); err != nil || again.text != p.text {
			t.Fatalf("the normal form %q of %q does not parse to itself: %v", p.text, text, err)
		}
		s := &script{Script: Script{Name: p.text}, pat: p}
		rt := newRoutes(nil, map[string]*script{p.text: s})
		r := &route{}
		r.init()
		got := rt.lookup([]byte(method), []byte(path), r) && len(r.matched) == 1
		if _, may := rt.find([]byte(path)); got != may && got {
			t.Fatalf("pattern %q, %s %q: lookup matches, but find says no script could", p.text, method, path)
		}
		if want := referenceMatch(p, path, method); got != want {
			t.Fatalf("pattern %q, %s %q: the trie says %v, the reference %v", p.text, method, path, got, want)
		}
	})
}
