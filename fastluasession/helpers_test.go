package fastluasession

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// endpoint is a real introspection server on 127.0.0.1 that counts its calls and records the
// credential headers of the last one.
type endpoint struct {
	srv   *httptest.Server
	calls atomic.Int64
	stop  chan struct{} // closed when the test ends: releases handlers that block

	mu   sync.Mutex
	last http.Header
}

// newEndpoint serves answer on a loopback port until the test ends.
func newEndpoint(t testing.TB, answer func(w http.ResponseWriter, r *http.Request)) *endpoint {
	t.Helper()
	e := &endpoint{stop: make(chan struct{})}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		e.mu.Lock()
		e.last = r.Header.Clone()
		e.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { close(e.stop) }) // runs first: handlers return, then the server closes
	return e
}

func (e *endpoint) url() string { return e.srv.URL + "/api/v2/user/session" }

func (e *endpoint) lastHeader(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last.Get(name)
}

// dreamFactory answers as DreamFactory's GET /api/v2/user/session does for the token "good"
// (with the API key "k1", the role "editor"), and 401 for any other.
func dreamFactory(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-DreamFactory-Session-Token") != "good" {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":401,"message":"Token not provided."}}`))
		return
	}
	role := `"role":"editor","role_id":7,`
	if r.Header.Get("X-DreamFactory-Api-Key") != "k1" {
		role = ""
	}
	w.Write([]byte(`{"session_token":"good","session_id":"good","id":42,"name":"Ada Lovelace",
		"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com","is_sys_admin":false,
		"last_login_date":"2026-02-18 19:45:18","host":"df",` + role + `"token_expiry_date":"2026-02-19 19:45:18"}`))
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer is a concurrency-safe buffer for a test's logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newBuilder makes a Builder, failing the test on an error. Its introspection calls have 20
// seconds unless cfg says otherwise: a loaded machine must not turn an answer into a timeout.
func newBuilder(t testing.TB, cfg Config) *Builder {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request builds the session of a request to uri with the given header name/value pairs.
func request(b *Builder, uri string, headers ...string) map[string]any {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	return b.Session(&ctx)
}

// withToken builds the session of a request with a DreamFactory session token and API key.
func withToken(b *Builder, apiKey, token string) map[string]any {
	return request(b, "/api/v2/db/_table/x", "X-DreamFactory-Api-Key", apiKey, "X-DreamFactory-Session-Token", token)
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// userEmail returns session.user.email, or "" when there is no user.
func userEmail(s map[string]any) string {
	u, _ := s["user"].(map[string]any)
	e, _ := u["email"].(string)
	return e
}

func hasKey(s map[string]any, k string) bool { _, ok := s[k]; return ok }
