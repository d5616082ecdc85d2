package fastluasession

import (
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIntrospectionDreamFactoryAnswer(t *testing.T) {
	ep := newEndpoint(t, dreamFactory)
	b := newBuilder(t, Config{SessionURL: ep.url()})

	got := withToken(b, "k1", "good")
	want := map[string]any{
		"api_key":       "k1",
		"session_token": "good",
		"session_id":    "good",
		"user": map[string]any{"id": 42.0, "name": "Ada Lovelace", "email": "ada@example.com",
			"first_name": "Ada", "last_name": "Lovelace", "is_sys_admin": false},
		"role": map[string]any{"id": 7.0, "name": "editor"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("session:\n got %#v\nwant %#v", got, want)
	}
	// The endpoint got the credential in DreamFactory's headers and as a bearer token.
	for name, want := range map[string]string{"X-DreamFactory-Api-Key": "k1", "X-DreamFactory-Session-Token": "good",
		"Authorization": "Bearer good", "Accept": "application/json"} {
		if got := ep.lastHeader(name); got != want {
			t.Errorf("the endpoint got %s: %q, want %q", name, got, want)
		}
	}
	// Another app's key: another credential, another call; DreamFactory names no role then.
	got = withToken(b, "k2", "good")
	if ep.calls.Load() != 2 || hasKey(got, "role") || userEmail(got) != "ada@example.com" {
		t.Fatalf("with another API key: %d calls, %#v", ep.calls.Load(), got)
	}
	if st := b.Stats(); st.Introspections != 2 || st.IntrospectionUsers != 2 || st.Sessions != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestIntrospectionCacheTTL(t *testing.T) {
	ep := newEndpoint(t, dreamFactory)
	clk := newClock()
	b := newBuilder(t, Config{SessionURL: ep.url(), TTL: time.Minute, Now: clk.Now})

	for range 3 {
		if userEmail(withToken(b, "k1", "good")) != "ada@example.com" {
			t.Fatal("no user")
		}
	}
	if n := ep.calls.Load(); n != 1 {
		t.Fatalf("%d calls for one credential within the TTL, want 1", n)
	}
	clk.Advance(time.Minute - time.Millisecond)
	withToken(b, "k1", "good")
	if n := ep.calls.Load(); n != 1 {
		t.Fatalf("%d calls just before the TTL ends, want 1", n)
	}
	clk.Advance(time.Millisecond)
	if userEmail(withToken(b, "k1", "good")) != "ada@example.com" {
		t.Fatal("no user after the TTL")
	}
	if n := ep.calls.Load(); n != 2 {
		t.Fatalf("%d calls once the TTL ended, want 2", n)
	}
	if st := b.Stats(); st.CacheHits != 3 || st.Cached != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestIntrospectionSingleFlight(t *testing.T) {
	release := make(chan struct{})
	var ep *endpoint
	ep = newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-ep.stop:
		}
		dreamFactory(w, r)
	})
	b := newBuilder(t, Config{SessionURL: ep.url()})

	const n = 8
	var wg sync.WaitGroup
	emails := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			emails[i] = userEmail(withToken(b, "k1", "good"))
		}()
	}
	// All but the leader are waiting for its call, which the endpoint holds: release it.
	waitFor(t, "the requests to share one call", func() bool { return b.Stats().Shared == n-1 && ep.calls.Load() == 1 })
	close(release)
	wg.Wait()
	for i, e := range emails {
		if e != "ada@example.com" {
			t.Fatalf("request %d: email %q", i, e)
		}
	}
	if c := ep.calls.Load(); c != 1 {
		t.Fatalf("%d calls for %d concurrent requests with one credential, want 1", c, n)
	}
}

func TestIntrospectionRefused(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ep := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
			clk := newClock()
			var logs logBuffer
			b := newBuilder(t, Config{SessionURL: ep.url(), Now: clk.Now, Logger: testLogger(&logs)})

			s := withToken(b, "k1", "bad-token-123")
			if hasKey(s, "user") || hasKey(s, "role") || s["session_token"] != "bad-token-123" || s["api_key"] != "k1" {
				t.Fatalf("a refused token: %#v", s)
			}
			// Cached briefly: a bad token cannot hammer the endpoint.
			withToken(b, "k1", "bad-token-123")
			if n := ep.calls.Load(); n != 1 {
				t.Fatalf("%d calls for a refused token within NegativeTTL, want 1", n)
			}
			clk.Advance(5 * time.Second)
			withToken(b, "k1", "bad-token-123")
			if n := ep.calls.Load(); n != 2 {
				t.Fatalf("%d calls once NegativeTTL (5 s) ended, want 2", n)
			}
			if st := b.Stats(); st.IntrospectionRejected != 2 || st.IntrospectionFailed != 0 {
				t.Fatalf("stats: %+v", st)
			}
			if l := logs.String(); !strings.Contains(l, "level=INFO") || !strings.Contains(l, "refused") ||
				strings.Contains(l, "bad-token-123") {
				t.Fatalf("log (an info line, without the token): %s", l)
			}
		})
	}
}

func TestIntrospectionFailures(t *testing.T) {
	body := func(status int, s string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(s))
		}
	}
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		inLog  string
	}{
		{"500", body(500, `{"error":{"code":500}}`), "status 500"},
		{"404", body(404, `{}`), "status 404"},
		{"malformed JSON", body(200, `{"id": 42, "email": `), "not a JSON object"},
		{"an array", body(200, `[{"id": 42}]`), "not a JSON object"},
		{"null", body(200, `null`), "null"},
		{"no user field", body(200, `{"session_token":"tok-secret-1","role":"editor","last_login_date":"x"}`), "no user field"},
		{"too large", body(200, `{"id":1,"pad":"`+strings.Repeat("x", 70<<10)+`"}`), "body size exceeds"},
		{"timeout", nil, "Config.Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ep *endpoint
			ep = newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.answer == nil { // never answers in time
					<-ep.stop
					return
				}
				tc.answer(w, r)
			})
			clk := newClock()
			var logs logBuffer
			cfg := Config{SessionURL: ep.url(), Now: clk.Now, Logger: testLogger(&logs)}
			if tc.answer == nil {
				cfg.Timeout = 200 * time.Millisecond
			}
			b := newBuilder(t, cfg)

			s := withToken(b, "k1", "tok-secret-1")
			if hasKey(s, "user") || s["session_token"] != "tok-secret-1" {
				t.Fatalf("after a failure: %#v", s)
			}
			if st := b.Stats(); st.IntrospectionFailed != 1 || st.IntrospectionUsers != 0 {
				t.Fatalf("stats: %+v", st)
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, tc.inLog) ||
				strings.Contains(l, "tok-secret-1") {
				t.Fatalf("log (a warning naming %q, without the token): %s", tc.inLog, l)
			}
			// A failure is cached for FailureTTL (1 s) only, not as long as a user.
			withToken(b, "k1", "tok-secret-1")
			if n := ep.calls.Load(); n != 1 {
				t.Fatalf("%d calls within FailureTTL, want 1", n)
			}
			clk.Advance(time.Second)
			withToken(b, "k1", "tok-secret-1")
			if n := ep.calls.Load(); n != 2 {
				t.Fatalf("%d calls once FailureTTL ended, want 2", n)
			}
		})
	}
}

func TestIntrospectionUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var logs logBuffer
	b := newBuilder(t, Config{SessionURL: "http://" + addr + "/api/v2/user/session", Logger: testLogger(&logs)})
	if s := withToken(b, "k1", "good"); hasKey(s, "user") || s["api_key"] != "k1" {
		t.Fatalf("endpoint down: %#v", s)
	}
	if st := b.Stats(); st.IntrospectionFailed != 1 || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("stats %+v, log %s", st, logs.String())
	}
}

func TestIntrospectionNeedsAToken(t *testing.T) {
	ep := newEndpoint(t, dreamFactory)
	b := newBuilder(t, Config{SessionURL: ep.url()})
	if s := request(b, "/x?api_key=k1"); !reflect.DeepEqual(s, map[string]any{"api_key": "k1"}) {
		t.Fatalf("an API key alone: %#v", s)
	}
	if n := ep.calls.Load(); n != 0 {
		t.Fatalf("%d calls without a session token", n)
	}
}

func TestIntrospectionCacheBound(t *testing.T) {
	ep := newEndpoint(t, dreamFactory)
	b := newBuilder(t, Config{SessionURL: ep.url(), CacheSize: 2})
	for _, tok := range []string{"a", "b", "c", "a"} {
		withToken(b, "k1", tok)
	}
	// "a" was evicted by "c" (the least recently used), so it was asked again.
	if st := b.Stats(); st.Cached != 2 || st.Introspections != 4 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestIntrospectionUserObject(t *testing.T) {
	// A non-DreamFactory endpoint may nest the user, and give the role and app as objects.
	ep := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"user":{"id":"u-9","email":"bo@example.com","given_name":"Bo","family_name":"Li","is_sys_admin":1,"extra":"x"},
			"role":{"id":3,"name":"admin","x":1},"app":{"id":5,"name":"shop"},"session_id":"s-1"}`))
	})
	b := newBuilder(t, Config{SessionURL: ep.url()})
	got := withToken(b, "", "tok")
	want := map[string]any{
		"session_token": "tok", "session_id": "s-1",
		"user": map[string]any{"id": "u-9", "email": "bo@example.com", "first_name": "Bo", "last_name": "Li", "is_sys_admin": true},
		"role": map[string]any{"id": 3.0, "name": "admin"},
		"app":  map[string]any{"id": 5.0, "name": "shop"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("session:\n got %#v\nwant %#v", got, want)
	}
	if h := ep.lastHeader("X-DreamFactory-Api-Key"); h != "" {
		t.Fatalf("an API key header was sent without an API key: %q", h)
	}
}
