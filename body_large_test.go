//go:build !race

package fastlua

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Not under the race detector, where a 1.1M-element body takes minutes and there is nothing
// concurrent to check: the bridge's tests cross the same boundary under -race with a lowered
// MaxArrayIndex (bridge/json_test.go).

// bigArray is the JSON text [1,2,3,4,"s5",...] of n elements.
func bigArray(n int) []byte {
	b := make([]byte, 0, n*8)
	b = append(b, '[')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		if i%5 == 0 {
			b = append(b, `"s`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, '"')
		} else {
			b = strconv.AppendInt(b, int64(i), 10)
		}
	}
	return append(b, ']')
}

// A JSON array longer than gopher-lua's array part (2^20-1 elements once New has run) that a
// script only reads reaches the handler (or the client) byte for byte; one element changed,
// in either part of the table, it is re-encoded as an array of the same length.
func TestLargeArrayBodies(t *testing.T) {
	const n = 1_100_000
	text := bigArray(n)
	rec := &recorder{}
	ts := serveLarge(t, Config{TimeLimit: time.Minute, Scripts: scriptsFrom(t, "bodies")}, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if ctx.IsPost() {
			rec.record(ctx)
			ctx.SetBodyString(`{"ok":true}`)
			return
		}
		ctx.SetBody(text)
	})
	checkArray := func(what string, got []byte, changed int) {
		t.Helper()
		var list []any
		if err := json.Unmarshal(got, &list); err != nil {
			t.Fatalf("%s: not a JSON array (%v): %.60s", what, err, got)
		}
		if len(list) != n {
			t.Fatalf("%s: %d elements, want %d", what, len(list), n)
		}
		for i, want := range []any{float64(1), "s5", float64(1048576), "s1100000"} {
			idx := []int{1, 5, 1048576, n}[i]
			if idx == changed {
				want = "changed"
			}
			if list[idx-1] != want {
				t.Fatalf("%s: element %d = %v, want %v", what, idx, list[idx-1], want)
			}
		}
	}

	// The request payload.
	r := ts.do("POST", "/big/array?n=1100000", string(text))
	body, _, length, headers := rec.last()
	if r.status != 200 || headers["x-last"] != "s1100000" {
		t.Fatalf("read: %d %s, x-last %q", r.status, r.body, headers["x-last"])
	}
	if !bytes.Equal(body, text) || length != len(text) {
		t.Fatalf("a payload the script only read reached the handler changed: %d bytes (Content-Length %d), sent %d: %.40s", len(body), length, len(text), body)
	}
	for _, i := range []int{3, 1048576, n} {
		r := ts.do("POST", "/big/array?n=1100000&change="+strconv.Itoa(i), string(text))
		body, _, length, _ := rec.last()
		if r.status != 200 || length != len(body) {
			t.Fatalf("change %d: %d %s, Content-Length %d for %d bytes", i, r.status, r.body, length, len(body))
		}
		checkArray("the payload with element "+strconv.Itoa(i)+" changed", body, i)
	}

	// The response content.
	r = ts.do("GET", "/big/array?n=1100000", "")
	if r.status != 200 || r.headers["x-last"] != "s1100000" {
		t.Fatalf("read: %d %.80s, x-last %q", r.status, r.body, r.headers["x-last"])
	}
	if r.body != string(text) {
		t.Fatalf("content the script only read reached the client changed: %d bytes, sent %d: %.40s", len(r.body), len(text), r.body)
	}
	for _, i := range []int{3, 1048576, n} {
		r := ts.do("GET", "/big/array?n=1100000&change="+strconv.Itoa(i), "")
		if r.status != 200 {
			t.Fatalf("change %d: %d %.200s", i, r.status, r.body)
		}
		checkArray("the content with element "+strconv.Itoa(i)+" changed", []byte(r.body), i)
	}
}
