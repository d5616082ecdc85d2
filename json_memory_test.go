package fastlua

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The Lua values decoded from a JSON body have a memory budget proportional to its text
// (Config.MaxJSONExpansion; issue 13, red-team F1 and F5): a body of tiny containers, sent as it
// is or compressed, answered by the handler or by platform.api, or given to json.decode, fails
// the script with the documented status and an error naming the limit, and the server goes on
// serving; a typical document of the same size decodes.
func TestJSONDecodeBudget(t *testing.T) {
	const size = 2 << 20 // within fasthttp's default 4 MiB body limit
	tiny := "[" + strings.Repeat("{},", size/3) + "{}]"
	records := "[" + strings.Repeat(`{"id":12345,"name":"Alice Smith","email":"alice@example.com","active":true},`, size/77) + "{}]"
	docs := map[string]string{"tiny": tiny, "records": records}
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if doc, ok := docs[string(ctx.QueryArgs().Peek("doc"))]; ok {
			ctx.SetBodyString(doc)
			return
		}
		ctx.SetBodyString(`{"ok":true}`)
	}
	// The budget is what stops these decodes, not the time limit: a generous one, so that a slow
	// machine under -race (a 2 MiB decode can take over a second there) still reaches the budget.
	ts := serve(t, Config{Scripts: scriptsFrom(t, "jsonmem"), TimeLimit: 30 * time.Second, MaxTimeLimit: 30 * time.Second}, handler)
	budget := strconv.Itoa(32 * len(tiny))
	wantBudget := func(what string, r response) {
		t.Helper()
		if r.status != 500 {
			t.Errorf("%s: %d %.200s, want 500", what, r.status, r.body)
			return
		}
		msg := r.errorMessage(t)
		if r.status != 500 || !strings.Contains(msg, "Config.MaxJSONExpansion") || !strings.Contains(msg, budget) {
			t.Errorf("%s: %d %q, want 500 and an error naming the budget (%s bytes) and Config.MaxJSONExpansion", what, r.status, msg, budget)
		}
	}
	wantBudget("a request payload of empty objects", ts.do("POST", "/mem/payload", tiny))
	wantBudget("a gzip request payload of empty objects", ts.do("POST", "/mem/payload", string(compressAs("gzip", []byte(tiny))), "Content-Encoding", "gzip", "Content-Type", "application/json"))
	wantBudget("json.decode of empty objects", ts.do("POST", "/mem/decode", tiny))
	wantBudget("response content of empty objects", ts.do("GET", "/mem/content?doc=tiny", ""))
	wantBudget("a platform.api result of empty objects", ts.do("GET", "/mem/api?doc=tiny", ""))

	n := strconv.Itoa(strings.Count(records, "{"))
	for _, c := range []struct {
		what string
		r    response
	}{
		{"a request payload of records", ts.do("POST", "/mem/payload", records)},
		{"a gzip request payload of records", ts.do("POST", "/mem/payload", string(compressAs("gzip", []byte(records))), "Content-Encoding", "gzip", "Content-Type", "application/json")},
		{"response content of records", ts.do("GET", "/mem/content?doc=records", "")},
		{"a platform.api result of records", ts.do("GET", "/mem/api?doc=records", "")},
	} {
		if c.r.status != 200 {
			t.Errorf("%s: %d %.200s", c.what, c.r.status, c.r.body)
		}
		if got := c.r.headers["x-elements"]; c.what == "response content of records" && got != n {
			t.Errorf("%s: %q elements, want %s", c.what, got, n)
		}
	}
}

// A table stored with platform.store or logged as a field is encoded up to its limit
// (Config.MaxStoreValue, the log budget left of Config.MaxLogSize), not up to
// Config.MaxJSONSize before the limit is checked (issue 13, red-team F15): a table whose JSON
// is 60 MiB allocates about the limit.
func TestTableEncodedUpToItsLimit(t *testing.T) {
	ts := serve(t, Config{Scripts: scriptsFrom(t, "jsonmem")}, func(ctx *fasthttp.RequestCtx) {})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := ts.do("POST", "/mem/store", `{}`)
	runtime.ReadMemStats(&after)
	if r.status != 500 || !strings.Contains(r.body, "Config.MaxStoreValue") {
		t.Errorf("storing 60 MiB of JSON: %d %.300s, want 500 naming Config.MaxStoreValue", r.status, r.body)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("storing 60 MiB of JSON allocated %d MiB before it was refused", grown>>20)
	}
	runtime.ReadMemStats(&before)
	r = ts.do("POST", "/mem/log", `{}`)
	runtime.ReadMemStats(&after)
	if r.status != 200 {
		t.Errorf("logging 60 MiB of JSON: %d %.300s", r.status, r.body)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("logging 60 MiB of JSON allocated %d MiB", grown>>20)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "a big field") || !strings.Contains(logs, "Config.MaxLogSize") {
		t.Errorf("the log does not say the field was cut: %.500s", logs)
	}
}

// A long decode heeds the memory guard (Config.MemoryLimit) and the time limit, even in a
// straight-line script, which has no per-instruction check: it arms the run's deadline as a
// platform call does and stops once the watchdog fired. Here the budget is raised so that only
// the guard can stop a 4 MiB payload that decodes to about 150 MiB; the guard needs a GC and a
// watchdog tick during the decode, so requests are sent until one is stopped. The payload is an
// array of arrays: objects are decoded lazily (a script that reads none of their fields makes
// about a third of that), arrays whole.
func TestJSONDecodeHeedsTheMemoryGuard(t *testing.T) {
	body := "[" + strings.Repeat(`[1],`, (4<<20)/5) + "[]]"
	ts := serve(t, Config{TimeLimit: time.Minute, MemoryLimit: 64 << 20, MaxJSONExpansion: 1000,
		Scripts: scriptsFrom(t, "jsonmem")}, func(ctx *fasthttp.RequestCtx) {})
	deadline := time.Now().Add(time.Minute)
	for i := 1; ; i++ {
		r := ts.do("POST", "/mem/straight", body)
		if r.status == 500 && strings.Contains(r.body, "the memory limit of 64 MiB") {
			return
		}
		if r.status != 200 && r.status != 500 || time.Now().After(deadline) || i == 30 {
			t.Fatalf("request %d: %d %.300s, want one stopped by the memory guard", i, r.status, r.body)
		}
	}
}
