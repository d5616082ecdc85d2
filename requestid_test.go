package fastlua

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureHandler is a slog.Handler that keeps every record with its attributes.
type captureHandler struct {
	mu      sync.Mutex
	records []map[string]string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, rec)
	h.mu.Unlock()
	return nil
}

// find returns the records whose message contains msg.
func (h *captureHandler) find(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.records {
		if strings.Contains(r["msg"], msg) {
			out = append(out, r)
		}
	}
	return out
}

// A script's log records and the middleware's error records carry the request's method, path,
// client address and id: X-Request-Id when sane, else one made per request, which scripts read
// as event.request.id.
func TestLogsCarryTheRequest(t *testing.T) {
	capture := &captureHandler{}
	var handler echo
	ts := serve(t, Config{Scripts: scriptsFrom(t, "reqlog"), Logger: slog.New(capture)}, handler.handle)

	check := func(rec map[string]string, method, path, id string) {
		t.Helper()
		if rec["method"] != method || rec["path"] != path || rec["request_id"] != id || rec["client"] != "127.0.0.1" {
			t.Fatalf("record %v: want method %s path %s request_id %s and a 127.0.0.1 client", rec, method, path, id)
		}
	}

	r := ts.do("GET", "/rl/item", "", "X-Request-Id", "req-42.abc")
	if r.headers["x-seen-id"] != "req-42.abc" {
		t.Fatalf("event.request.id is %q, want the X-Request-Id", r.headers["x-seen-id"])
	}
	recs := capture.find("seen")
	if len(recs) != 1 || recs[0]["script"] != "rl.item.get.post_process" || recs[0]["n"] != "1" {
		t.Fatalf("script records: %v", recs)
	}
	check(recs[0], "GET", "/rl/item", "req-42.abc")

	// No id, an id with a space, an id too long: one is made, different per request.
	made := map[string]bool{}
	for _, h := range [][]string{nil, {"X-Request-Id", "two words"}, {"X-Request-Id", strings.Repeat("x", MaxRequestIDLength+1)}} {
		r := ts.do("GET", "/rl/item", "", h...)
		id := r.headers["x-seen-id"]
		if id == "" || strings.Contains(id, " ") || len(id) > MaxRequestIDLength || made[id] {
			t.Fatalf("made id %q (headers %v, made so far %v)", id, h, made)
		}
		made[id] = true
		recs := capture.find("seen")
		check(recs[len(recs)-1], "GET", "/rl/item", id)
	}
	// The queued script's records carry the id its request had (a made one included).
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := false
		for _, rec := range capture.find("from the queue") {
			found = found || made[rec["request_id"]]
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no queued record carries a made id %v: %v", made, capture.find("from the queue"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A sane id of exactly the maximum length is kept.
	long := strings.Repeat("y", MaxRequestIDLength)
	if r := ts.do("GET", "/rl/item", "", "X-Request-Id", long); r.headers["x-seen-id"] != long {
		t.Fatalf("an id of %d bytes was replaced by %q", MaxRequestIDLength, r.headers["x-seen-id"])
	}

	// The middleware's own error record.
	ts.do("GET", "/rl/fail", "", "X-Request-Id", "failing-1")
	recs = capture.find("broken on purpose")
	if len(recs) != 1 || recs[0]["kind"] != "runtime" {
		t.Fatalf("error records: %v", recs)
	}
	check(recs[0], "GET", "/rl/fail", "failing-1")
}
