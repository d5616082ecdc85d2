package fastlua

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// lazyDoc is a response body written the way handlers write them, not in fastlua's normal form:
// white space, keys out of order, a number with a trailing zero.
const lazyDoc = `{"resource": [ {"id":1,"name":"Ada","email":"ada@example.com","address":{"city":"London"}},
 {"id":2,"name":"Alan","email":"alan@example.com","address":{"city":"Wilmslow"}} ],
 "meta": {"next": null, "count": 2}, "zeta": 1.50}`

// event.response.content is decoded as far as scripts read it and written back by splicing
// their changes into the handler's text (bridge/jsonlazy.go, issue 19): what a script did not
// touch keeps its bytes, a script that changes nothing leaves the body as it was (a read-only
// one passes), one that changes a field is refused when read-only, tables kept across a
// replaced body still read the text they came from, and a returned table made of the body's
// parts is written after the in-place change.
func TestLazyResponseContent(t *testing.T) {
	var scripts []Script
	for _, sc := range scriptsFrom(t, "lazyjson") {
		parsed, err := ParseScriptFile(sc.Name+".lua", []byte(sc.Source)) // with its directives
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, parsed)
	}
	ts := serve(t, Config{Scripts: scripts}, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(lazyDoc)
	})
	decode := func(s string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return v
	}
	want := func(what string, r response, status int, body string) {
		t.Helper()
		if r.status != status || !reflect.DeepEqual(decode(r.body), decode(body)) {
			t.Errorf("%s: %d %s\nwant %d %s", what, r.status, r.body, status, body)
		}
	}

	r := ts.do("GET", "/lz/edit", "")
	want("edit", r, 200, `{"resource":[{"id":1,"name":"Ada","email":"ada@example.com","address":{"city":"London"}},
		{"id":2,"name":"Alan","address":{"city":"Wilmslow"}}],"meta":{"next":null,"count":6},"zeta":1.5}`)
	for _, kept := range []string{`{"id":1,"name":"Ada","email":"ada@example.com","address":{"city":"London"}}`, `"zeta": 1.50`, `"address":{"city":"Wilmslow"}`, `"next": null`} {
		if !strings.Contains(r.body, kept) {
			t.Errorf("edit: %s does not keep %s as it was", r.body, kept)
		}
	}

	r = ts.do("GET", "/lz/same", "")
	if r.status != 200 || r.body != lazyDoc || r.headers["x-names"] != "Ada,Alan,next,count" {
		t.Errorf("same: %d %q %s, want the body as it was and the names in the text's order", r.status, r.headers["x-names"], r.body)
	}

	if r = ts.do("GET", "/lz/rosame", ""); r.status != 200 || r.body != lazyDoc {
		t.Errorf("rosame: %d %s, want the body as it was", r.status, r.body)
	}

	r = ts.do("GET", "/lz/ro", "")
	if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, "allow_event_modification") {
		t.Errorf("ro: %d %q, want 500 naming allow_event_modification", r.status, msg)
	}

	if r = ts.do("GET", "/lz/labels", ""); r.status != 200 {
		t.Errorf("labels: %d %s", r.status, r.body)
	}
	var labels []MetricLabel
	for _, m := range ts.mw.Stats().Metrics {
		if m.Name == "lazy_labels" {
			labels = m.Labels
		}
	}
	if !reflect.DeepEqual(labels, []MetricLabel{{"city", "London"}}) {
		t.Errorf("labels from a lazily decoded object: %v, want city=London", labels)
	}

	want("loop", ts.do("GET", "/lz/loop", ""), 200, `{"i":100,"o":{"n":2}}`)

	want("keep", ts.do("GET", "/lz/keep", ""), 200, `{"kept":{"next":null,"count":2},"first":"Ada","n":2}`)
	want("ret", ts.do("GET", "/lz/ret", ""), 201,
		`{"first":{"id":1,"name":"Ada","email":"ada@example.com","address":{"city":"London"}},"meta":{"next":null,"count":9}}`)
}

// The request payload is decoded and written back the same way: the handler gets the client's
// text with the script's changes spliced in, or byte for byte when it changed nothing.
func TestLazyRequestPayload(t *testing.T) {
	var scripts []Script
	for _, sc := range scriptsFrom(t, "lazyjson") {
		parsed, err := ParseScriptFile(sc.Name+".lua", []byte(sc.Source))
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, parsed)
	}
	ts := serve(t, Config{Scripts: scripts}, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(ctx.Request.Body())
	})
	r := ts.do("POST", "/lz/pay", lazyDoc)
	var got, want any
	_ = json.Unmarshal([]byte(r.body), &got)
	_ = json.Unmarshal([]byte(`{"resource":[{"id":1,"name":"Ada","address":{"city":"London"}},
		{"id":2,"name":"Alan","email":"alan@example.com","address":{"city":"Wilmslow"}}],"meta":{"next":null,"count":7},"zeta":1.5}`), &want)
	if r.status != 200 || !reflect.DeepEqual(got, want) {
		t.Errorf("pay: %d %s", r.status, r.body)
	}
	for _, kept := range []string{`{"id":2,"name":"Alan","email":"alan@example.com","address":{"city":"Wilmslow"}}`, `"zeta": 1.50`, `"next": null`} {
		if !strings.Contains(r.body, kept) {
			t.Errorf("pay: %s does not keep %s as it was", r.body, kept)
		}
	}
	if r = ts.do("POST", "/lz/payread", lazyDoc); r.status != 200 || r.body != lazyDoc {
		t.Errorf("payread: %d %s, want the body as the client sent it", r.status, r.body)
	}
}
