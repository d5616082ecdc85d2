package fastlua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The DreamFactory pre_process validation example: without a name the request is answered with
// 400 and the handler is not called; with one the handler gets the payload with a timestamp.
func TestValidationExample(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Prefix: "/api/v2", Scripts: scriptsFrom(t, "validation")}, h.handle)

	r := ts.do("POST", "/api/v2/db/_table/account", `{"email":"a@example.com"}`)
	if r.status != 400 || r.body != `{"error":"Name field is required"}` {
		t.Fatalf("without a name: %d %s", r.status, r.body)
	}
	if h.count() != 0 {
		t.Fatalf("the handler was called %d times for a refused request", h.count())
	}

	r = ts.do("POST", "/api/v2/db/_table/account", `{"name":"Ada","email":"a@example.com"}`)
	if r.status != 200 {
		t.Fatalf("with a name: %d %s", r.status, r.body)
	}
	got := h.lastSeen()
	var payload map[string]any
	if err := json.Unmarshal([]byte(got.Body), &payload); err != nil {
		t.Fatalf("the handler got a body that is not JSON: %q", got.Body)
	}
	ts1, _ := payload["timestamp"].(string)
	if payload["name"] != "Ada" || payload["email"] != "a@example.com" {
		t.Fatalf("the handler got %v", payload)
	}
	if _, err := time.Parse(time.RFC3339, ts1); err != nil {
		t.Fatalf("timestamp %q is not a time: %v", ts1, err)
	}
	if got.Length != len(got.Body) {
		t.Fatalf("Content-Length %d for a body of %d bytes", got.Length, len(got.Body))
	}
}

func TestAnswerEarly(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "early")}, h.handle)
	r := ts.do("GET", "/shop/orders", "")
	if r.status != 418 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if h.count() != 0 {
		t.Fatal("the handler ran after a pre_process script answered")
	}
	if r.headers["x-early"] != "1" || r.headers["x-post"] != "418" {
		t.Fatalf("headers %v", r.headers)
	}
	if _, ok := r.headers["x-second"]; ok {
		t.Fatal("a pre_process script ran after the request was answered")
	}
	if v := r.json(t); v["teapot"] != true || v["res"] != "orders" || v["post"] != "seen" {
		t.Fatalf("body %s", r.body)
	}
	if !strings.HasPrefix(r.headers["content-type"], "application/json") {
		t.Fatalf("content-type %q", r.headers["content-type"])
	}
}

func TestPostProcess(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "post")}, h.handle)

	r := ts.do("GET", "/api/items?x=1", "")
	v := r.json(t)
	if r.status != 200 || v["custom_field"] != "added" || v["method"] != "GET" || r.headers["x-post"] != "1" {
		t.Fatalf("rewrite: %d %s %v", r.status, r.body, r.headers)
	}
	if _, ok := v["headers"]; ok {
		t.Fatal("the field the script removed is still there")
	}
	if r.headers["content-length"] != fmt.Sprint(len(r.body)) {
		t.Fatalf("Content-Length %s for %d bytes", r.headers["content-length"], len(r.body))
	}

	r = ts.do("PUT", "/api/items", `{"a":1}`)
	if r.status != 202 || r.body != "accepted" || r.headers["content-type"] != "text/plain" {
		t.Fatalf("string content: %d %q %q", r.status, r.body, r.headers["content-type"])
	}

	r = ts.do("DELETE", "/api/items", "")
	if r.status != 200 || r.body != `{"deleted":true,"list":[1,2,3]}` {
		t.Fatalf("table content: %d %s", r.status, r.body)
	}
	if h.count() != 3 {
		t.Fatalf("handler calls %d", h.count())
	}
}

func TestPreProcessChanges(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "modify")}, h.handle)

	ts.do("POST", "/mod/item?gone=1&kept=2", `{"original":true}`, "X-Remove", "1", "X-Kept", "2")
	s := h.lastSeen()
	if s.Method != "PUT" {
		t.Errorf("method %q", s.Method)
	}
	if s.Headers["x-added"] != "yes" || s.Headers["x-kept"] != "2" {
		t.Errorf("headers %v", s.Headers)
	}
	if _, ok := s.Headers["x-remove"]; ok {
		t.Error("a deleted header reached the handler")
	}
	if s.Query["added"] != "1" || s.Query["kept"] != "2" || s.Query["gone"] != "" {
		t.Errorf("query %v", s.Query)
	}
	if s.Body != `{"n":3,"replaced":true}` || s.Length != len(s.Body) {
		t.Errorf("body %q with Content-Length %d", s.Body, s.Length)
	}

	ts.do("POST", "/mod/raw", `{"x":1}`)
	if s := h.lastSeen(); s.Body != "plain text" || s.Length != 10 {
		t.Errorf("content: %q, Content-Length %d", s.Body, s.Length)
	}

	ts.do("GET", "/mod/multi", "")
	if s := h.lastSeen(); s.Headers["x-count"] == "" || s.Headers["x-count"] == "0" {
		t.Errorf("pairs over headers counted %q", s.Headers["x-count"])
	}
}

func TestReturnValues(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "return")}, h.handle)
	r := ts.do("GET", "/r/table", "")
	if r.status != 201 || r.body != `{"made":true}` || r.headers["x-made"] != "yes" || h.count() != 0 {
		t.Fatalf("response table: %d %s %v (handler calls %d)", r.status, r.body, r.headers, h.count())
	}
	r = ts.do("GET", "/r/plain", "")
	if r.status != 200 || r.body != `{"hello":"world"}` {
		t.Fatalf("plain table: %d %s", r.status, r.body)
	}
	r = ts.do("GET", "/r/bad", "")
	if r.status != 500 || !strings.Contains(r.errorMessage(t), "may return a table") {
		t.Fatalf("bad return: %d %s", r.status, r.body)
	}
}

func TestReadOnlyScripts(t *testing.T) {
	h := &echo{}
	ro := func(name, file string) Script {
		s := luaFile(t, name, filepath.Join("readonly", file))
		s.ReadOnly = true
		return s
	}
	ts := serve(t, Config{Scripts: []Script{
		ro("ro.header.get.pre_process", "header.lua"),
		ro("ro.payload.post.pre_process", "payload.lua"),
		ro("ro.read.post.pre_process", "read.lua"),
		luaFile(t, "ro.late.get.post_process", "readonly/post_request.lua"),
	}}, h.handle)

	for _, c := range []struct{ method, path, body, want string }{
		{"GET", "/ro/header", "", "event.request.headers cannot be changed: the script has allow_event_modification = false"},
		{"POST", "/ro/payload", `{"a":1}`, "event.request.payload was changed, but the script has allow_event_modification = false"},
		{"GET", "/ro/late", "", "cannot be changed in post_process"},
	} {
		r := ts.do(c.method, c.path, c.body)
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %d %q, want a 500 with %q", c.method, c.path, r.status, msg, c.want)
		}
	}
	calls := h.count()
	body := `{ "name" : "kept",  "big": 12345678901234567890, "z": [ ] }`
	r := ts.do("POST", "/ro/read?q=1", body)
	if r.status != 200 || h.count() != calls+1 {
		t.Fatalf("read-only reader: %d %s", r.status, r.body)
	}
	if got := h.lastSeen().Body; got != body {
		t.Fatalf("a script that only read the payload changed the body:\n got %s\nwant %s", got, body)
	}
	// Duplicate keys: a read is still a read (no error), and the object read is forwarded with
	// only the copy the script read, so that no parser of the handler reads another.
	dup := `{"name":"a","name":"b"}`
	if r := ts.do("POST", "/ro/read", dup); r.status != 200 || h.lastSeen().Body != `{"name":"b"}` {
		t.Fatalf("duplicate keys: %d %s, the handler got %s", r.status, r.body, h.lastSeen().Body)
	}

	// A writer then a read-only reader of the same payload, in one phase.
	mf := serve(t, Config{Scripts: []Script{
		luaFile(t, "mf.{a}.post.pre_process", "readonly/mf.{a}.post.pre_process.lua"),
		func() Script {
			s := luaFile(t, "mf.x.post.pre_process", "readonly/mf.x.post.pre_process.lua")
			s.ReadOnly = true
			return s
		}(),
	}}, h.handle)
	if r := mf.do("POST", "/mf/x", `{"s":"ok"}`); r.status != 200 || h.lastSeen().Body != `{"s":"�"}` {
		t.Fatalf("writer then reader: %d %s, the handler got %s", r.status, r.body, h.lastSeen().Body)
	}
}

// Removing a script while it runs away does not stop its time limit.
func TestRemoveRunningScript(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, Scripts: []Script{{Name: "run.away.get.pre_process", Source: "while true do end", TimeLimit: 200 * time.Millisecond}}}, h.handle)
	done := make(chan response, 1)
	start := time.Now()
	go func() { done <- ts.do("GET", "/run/away", "") }()
	time.Sleep(50 * time.Millisecond)
	ts.mw.Remove("run.away.get.pre_process")
	select {
	case r := <-done:
		if r.status != 500 || !strings.Contains(r.errorMessage(t), "time limit of 200ms") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("a removed runaway script still ran after %v", time.Since(start))
	}
}

func TestErrorShapes(t *testing.T) {
	h := &echo{}
	scripts := func() []Script {
		return []Script{
			luaFile(t, "errs.raised.get.pre_process", "errors/raised.lua"),
			luaFile(t, "errs.nostatus.get.pre_process", "errors/raised_nostatus.lua"),
			luaFile(t, "errs.text.get.pre_process", "errors/text.lua"),
			luaFile(t, "errs.runtime.get.pre_process", "errors/runtime.lua"),
			luaFile(t, "errs.post.get.post_process", "errors/text.lua"),
		}
	}
	ts := serve(t, Config{Scripts: scripts()}, h.handle)
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/errs/raised", 422, "Unprocessable thing"},
		{"/errs/nostatus", 500, "no status given"},
		{"/errs/text", 500, "script errs.text.get.pre_process, line 3: boom"},
		{"/errs/runtime", 500, "script errs.runtime.get.pre_process, line 2: attempt to index"},
		{"/errs/post", 500, "script errs.post.get.post_process, line 3: boom"},
	}
	for _, c := range cases {
		r := ts.do("GET", c.path, "")
		if msg := r.errorMessage(t); r.status != c.status || !strings.HasPrefix(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.path, r.status, msg, c.status, c.msg)
		}
		if !strings.HasPrefix(r.headers["content-type"], "application/json") {
			t.Errorf("%s: content-type %q", c.path, r.headers["content-type"])
		}
	}
	if r := ts.do("GET", "/errs/raised", ""); r.body != `{"error":{"code":422,"message":"Unprocessable thing"}}` {
		t.Errorf("raised body %s", r.body)
	}
	if h.count() != 1 {
		t.Errorf("the handler ran %d times; only the post_process case should reach it", h.count())
	}
	if !strings.Contains(ts.logs.String(), "boom") {
		t.Error("the error was not logged")
	}

	// HideErrors: unexpected errors say only the status text; raised ones keep their message.
	hidden := serve(t, Config{HideErrors: true, Scripts: scripts()}, h.handle)
	if r := hidden.do("GET", "/errs/text", ""); r.errorMessage(t) != "Internal Server Error" {
		t.Errorf("hidden error: %s", r.body)
	}
	if r := hidden.do("GET", "/errs/raised", ""); r.errorMessage(t) != "Unprocessable thing" {
		t.Errorf("raised error with HideErrors: %s", r.body)
	}
	if !strings.Contains(hidden.logs.String(), "line=3") {
		t.Errorf("the hidden error's details were not logged:\n%s", hidden.logs.String())
	}
}

// An error answer before the handler keeps the response headers set so far (rate-limit headers,
// CORS headers from a middleware outside fastlua); after the handler it replaces the handler's
// response whole.
func TestErrorKeepsHeadersBeforeHandler(t *testing.T) {
	h := &echo{}
	cors := func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
			next(ctx)
		}
	}
	ts := serveWrapped(t, Config{Scripts: []Script{
		luaFile(t, "errs.limited.get.pre_process", "errors/ratelimited.lua"),
		luaFile(t, "errs.gz.get.pre_process", "errors/gzipped_then_boom.lua"),
		luaFile(t, "errs.post.get.post_process", "errors/text.lua"),
	}}, h.handle, cors)

	r := ts.do("GET", "/errs/limited", "")
	if r.status != 429 || r.errorMessage(t) != "Too Many Requests" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for k, v := range map[string]string{"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0",
		"access-control-allow-origin": "*", "content-type": "application/json"} {
		if r.headers[k] != v {
			t.Errorf("429: %s = %q, want %q (headers %v)", k, r.headers[k], v, r.headers)
		}
	}

	r = ts.do("GET", "/errs/gz", "")
	if r.status != 500 || !strings.Contains(r.errorMessage(t), "boom") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.headers["x-before-failure"] != "kept" || r.headers["content-encoding"] != "" {
		t.Errorf("500 before the handler: headers %v", r.headers)
	}

	r = ts.do("GET", "/errs/post", "")
	if r.status != 500 || h.count() != 1 {
		t.Fatalf("%d %s (handler ran %d times)", r.status, r.body, h.count())
	}
	if r.headers["x-handler"] != "" {
		t.Errorf("the handler's headers survived a post_process error: %v", r.headers)
	}
}

// A script cannot give itself more time than Config.MaxTimeLimit, nor turn its limit off.
func TestMaxTimeLimit(t *testing.T) {
	loop := "while true do end"
	mw, err := New(Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	for _, tl := range []time.Duration{-1, 31 * time.Second, 1000 * time.Hour} {
		err := mw.Set(Script{Name: "t.x.get.pre_process", Source: loop, TimeLimit: tl})
		if err == nil || !strings.Contains(err.Error(), "Config.MaxTimeLimit") {
			t.Errorf("TimeLimit %v: %v", tl, err)
		}
	}
	if err := mw.Set(Script{Name: "t.x.get.pre_process", Source: loop, TimeLimit: 30 * time.Second}); err != nil {
		t.Errorf("30s, the default ceiling: %v", err)
	}
	// A script file asking for none is refused at load, with the file named.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.y.get.pre_process.lua"), []byte("-- fastlua: time_limit = none\n"+loop), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ScriptFS: os.DirFS(dir), Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "time_limit none is not allowed") {
		t.Errorf("a file with time_limit = none: %v", err)
	}
	// The operator can lift the ceiling, or raise it with TimeLimit.
	for _, c := range []struct {
		cfg Config
		tl  time.Duration
	}{{Config{MaxTimeLimit: -1}, -1}, {Config{TimeLimit: -1}, -1}, {Config{TimeLimit: 2 * time.Hour}, 2 * time.Hour}} {
		c.cfg.Logger = slog.New(slog.DiscardHandler)
		m, err := New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Set(Script{Name: "t.x.get.pre_process", Source: loop, TimeLimit: c.tl}); err != nil {
			t.Errorf("%+v: TimeLimit %v refused: %v", c.cfg, c.tl, err)
		}
		m.Close(context.Background())
	}
}

// A Go runtime error that reaches a run as a string (gopher-lua's coroutines turn Go panics into
// one) closes the state, and the client sees no Go text.
func TestGoRuntimeErrorClosesState(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, Scripts: []Script{
		{Name: "vm.fail.get.pre_process", Source: `error("runtime error: invalid memory address or nil pointer dereference", 0)`},
		{Name: "vm.ok.get.pre_process", Source: `return { content = { ok = true } }`},
	}}, h.handle)
	ts.do("GET", "/vm/ok", "")
	created := ts.mw.Stats().Pool.Created
	r := ts.do("GET", "/vm/fail", "")
	if msg := r.errorMessage(t); r.status != 500 || strings.Contains(msg, "nil pointer") || !strings.Contains(msg, "its state was closed") {
		t.Fatalf("%d %q", r.status, msg)
	}
	if r := ts.do("GET", "/vm/ok", ""); r.status != 200 || ts.mw.Stats().Pool.Created != created+1 {
		t.Fatalf("after: %d, states created %d -> %d", r.status, created, ts.mw.Stats().Pool.Created)
	}
	if !strings.Contains(ts.logs.String(), "nil pointer dereference") {
		t.Fatal("the Go error was not logged")
	}
}

func TestFailOpen(t *testing.T) {
	h := &echo{}
	bad := luaFile(t, "open.x.get.pre_process", "errors/runtime.lua")
	bad.FailOpen = true
	ts := serve(t, Config{Scripts: []Script{bad}}, h.handle)
	r := ts.do("GET", "/open/x", "")
	if r.status != 200 || h.count() != 1 {
		t.Fatalf("fail-open script stopped the request: %d %s", r.status, r.body)
	}
	if !strings.Contains(ts.logs.String(), "fail-open") {
		t.Fatal("the fail-open error was not logged")
	}
	if st := ts.mw.Stats().Scripts[0]; st.Errors != 1 || st.Runs != 1 || st.Name != "open.x.get.pre_process" {
		t.Fatalf("stats %+v", st)
	}
}

func TestCompileErrors(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{{Name: "c.x.get.pre_process", Source: `event.response.headers["x-v"] = "1"`}}}, h.handle)
	err := ts.mw.Set(Script{Name: "c.x.get.pre_process", Source: "local x = \n\nif then end"})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Line != 3 || ce.Script != "c.x.get.pre_process" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("message %q does not name the line", err)
	}
	if r := ts.do("GET", "/c/x", ""); r.headers["x-v"] != "1" {
		t.Fatal("the working version was replaced by one that does not compile")
	}
	// All or nothing.
	err = ts.mw.Set(Script{Name: "c.x.get.pre_process", Source: `event.response.headers["x-v"] = "2"`},
		Script{Name: "c.y.get.pre_process", Source: "end"})
	if err == nil {
		t.Fatal("a batch with a broken script was accepted")
	}
	if r := ts.do("GET", "/c/x", ""); r.headers["x-v"] != "1" {
		t.Fatal("part of a failed batch was installed")
	}
	if err := ts.mw.Set(Script{Name: "c.x", Source: ""}); !errors.As(err, new(*PatternError)) {
		t.Fatalf("bad pattern: %v", err)
	}
}

func TestSetAndRemoveAtRunTime(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{}, h.handle)
	if r := ts.do("GET", "/rt/x", ""); r.headers["x-v"] != "" {
		t.Fatal("a script ran before any was set")
	}
	for i := 1; i <= 3; i++ {
		if err := ts.mw.Set(Script{Name: "rt.x.get.post_process", Source: fmt.Sprintf(`event.response.headers["x-v"] = "%d"`, i)}); err != nil {
			t.Fatal(err)
		}
		if r := ts.do("GET", "/rt/x", ""); r.headers["x-v"] != fmt.Sprint(i) {
			t.Fatalf("version %d: got %q", i, r.headers["x-v"])
		}
	}
	if err := ts.mw.Set(Script{Name: "rt.x.get.post_process", Source: `event.response.headers["x-v"] = "off"`, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if r := ts.do("GET", "/rt/x", ""); r.headers["x-v"] != "" {
		t.Fatal("a disabled script ran")
	}
	if s, ok := ts.mw.Script("rt.x.GET.post_process"); !ok || !s.Disabled {
		t.Fatalf("Script() = %+v, %v", s, ok)
	}
	if n := ts.mw.Remove("rt.x.get.post_process", "no.such.get.queued"); n != 1 {
		t.Fatalf("Remove = %d", n)
	}
	if len(ts.mw.Scripts()) != 0 {
		t.Fatal("a removed script is still listed")
	}
}

// Scripts replaced in a loop while requests run: every request succeeds and sees one version.
func TestSetUnderLoad(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{{Name: "load.x.get.post_process", Source: `event.response.headers["x-v"] = "0"`}}}, h.handle)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := ts.do("GET", "/load/x", "")
				if r.status != 200 || r.headers["x-v"] == "" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %q", r.status, r.headers["x-v"]))
					mu.Unlock()
				}
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		if err := ts.mw.Set(Script{Name: "load.x.get.post_process", Source: fmt.Sprintf(`event.response.headers["x-v"] = "%d"`, i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(failures), failures[0])
	}
	if r := ts.do("GET", "/load/x", ""); r.headers["x-v"] != "50" {
		t.Fatalf("after the last Set: %q", r.headers["x-v"])
	}
}

// Hostile scripts (testdata/escape): each fails with the error its first line expects
// ("-- expect: a | b" for either), within a few seconds, and the next request on the same (only)
// state behaves normally and finds nothing left behind. A second line "-- alloc: N" bounds what
// the request may allocate, in MiB: a builtin's output is bounded before it is allocated, so a
// blow-up refused after it was built fails here.
func TestEscapes(t *testing.T) {
	files, _ := filepath.Glob("testdata/escape/*.lua")
	if len(files) < 25 {
		t.Fatalf("only %d escape scripts", len(files))
	}
	var scripts []Script
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".lua")
		s := luaFile(t, "escape."+name+".get.pre_process", filepath.Join("escape", name+".lua"))
		if expect, _, _ := strings.Cut(s.Source, "\n"); !strings.Contains(expect, "time limit") && !strings.Contains(expect, "stopped") {
			// A script that must be stopped by another limit gets a time limit it cannot
			// reach first on a slow machine.
			s.TimeLimit = time.Minute
		}
		scripts = append(scripts, s)
	}
	scripts = append(scripts, luaFile(t, "check.leaks.get.pre_process", "leaks/read.lua"))
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, TimeLimit: 250 * time.Millisecond, MaxTimeLimit: time.Minute, MaxStringSize: 1 << 20, MaxJSONSize: 4 << 20,
		MemoryLimit: 512 << 20, Store: NewMemoryStoreSize(10000), Scripts: scripts}, h.handle)
	checks := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".lua")
		t.Run(name, func(t *testing.T) {
			checks++
			src, _ := os.ReadFile(f)
			line, _, _ := strings.Cut(string(src), "\n")
			expect, ok := strings.CutPrefix(line, "-- expect: ")
			if !ok {
				t.Fatalf("%s has no -- expect: line", f)
			}
			maxAlloc := uint64(0)
			if _, rest, ok := strings.Cut(string(src), "\n-- alloc: "); ok {
				mib, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
				if err != nil {
					t.Fatalf("%s: bad -- alloc: line: %v", f, err)
				}
				maxAlloc = uint64(mib) << 20
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			r := ts.do("GET", "/escape/"+name, "")
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			msg := r.errorMessage(t)
			matched := false
			for _, want := range strings.Split(expect, " | ") {
				matched = matched || strings.Contains(msg, want)
			}
			if r.status < 400 || !matched {
				t.Fatalf("not refused as expected: %d %q, want %q", r.status, msg, expect)
			}
			if took > 20*time.Second {
				t.Fatalf("took %v", took) // a limit stops it long before (a runaway: the time limit of a minute)
			}
			if n := after.TotalAlloc - before.TotalAlloc; maxAlloc > 0 && n > maxAlloc {
				t.Fatalf("refused as expected, but the request allocated %d MiB (at most %d MiB): the output was built before it was bounded", n>>20, maxAlloc>>20)
			}
			// One state only: the next request runs where the attempt ran.
			if r := ts.do("GET", "/check/leaks", ""); r.status != 200 || r.headers["x-leaks"] != "" {
				t.Fatalf("after the attempt: %d leaks %q", r.status, r.headers["x-leaks"])
			}
		})
	}
	if h.count() != checks {
		t.Fatalf("handler calls %d, want %d (only the checks)", h.count(), checks)
	}
}

func TestNoLeaksBetweenRuns(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, Scripts: []Script{
		luaFile(t, "leak.write.get.pre_process", "leaks/write.lua"),
		luaFile(t, "leak.read.get.pre_process", "leaks/read.lua"),
		luaFile(t, "two.{x}.get.pre_process", "leaks/global_writer.lua"),
		luaFile(t, "two.y.get.pre_process", "leaks/global_reader.lua"),
	}}, h.handle)
	for i := 0; i < 3; i++ {
		r := ts.do("GET", "/leak/write", "")
		if r.status != 200 || r.body != `{"refused":7}` {
			t.Fatalf("writer: %d %s", r.status, r.body)
		}
		if r := ts.do("GET", "/leak/read", ""); r.headers["x-leaks"] != "" {
			t.Fatalf("left behind: %q", r.headers["x-leaks"])
		}
	}
	// The same script at two nesting levels (its platform.api call matches itself).
	re := serve(t, Config{MaxStates: 1, Scripts: []Script{
		luaFile(t, "re.{path...}.get.pre_process", "leaks/reentrant.lua"),
		luaFile(t, "probe.{path...}.get.pre_process", "leaks/probe.lua"),
		luaFile(t, "peek.{path...}.get.pre_process", "leaks/peek.lua"),
	}}, h.handle)
	if r := re.do("GET", "/re/a", ""); r.headers["x-outer"] != "outer/nil" {
		t.Fatalf("the outer run's globals after its nested run: %q", r.headers["x-outer"])
	}
	if r := re.do("GET", "/probe/x", ""); r.body != `{"leak":"nil","outer":"nil"}` {
		t.Fatalf("globals leaked into the next request: %s", r.body)
	}
	// Two scripts of the same request do not share globals either.
	if r := ts.do("GET", "/two/y", ""); r.headers["x-shared"] != "nil" {
		t.Fatalf("a global crossed from one script to the next: %q", r.headers["x-shared"])
	}
}

// One request cannot flood the log: a run's log output is capped (the script still succeeds),
// and scripts calling each other stop at Config.MaxAPICalls instead of fanning out 4^8 calls,
// each failing one logged.
func TestLogAndFanOutBounded(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxLogSize: 16 << 10, Scripts: []Script{
		luaFile(t, "flood.x.get.pre_process", "limits/log_flood.lua"),
		luaFile(t, "fan.{side}.get.pre_process", "limits/fan.lua"),
	}}, h.handle)
	r := ts.do("GET", "/flood/x", "")
	if r.status != 200 || r.body != `{"done":true}` {
		t.Fatalf("a script that logs too much failed: %d %s", r.status, r.body)
	}
	logs := ts.logs.String()
	if n := len(logs); n > 64<<10 {
		t.Fatalf("one run wrote %d bytes of log (MaxLogSize is 16 KiB)", n)
	}
	if strings.Count(logs, "its limit (Config.MaxLogSize)") != 1 || !strings.Contains(logs, "bytes cut: Config.MaxLogSize") {
		t.Fatalf("the cut was not reported once:\n%.2000s", logs)
	}
	// The next run has its budget again.
	if r := ts.do("GET", "/flood/x", ""); r.status != 200 || strings.Count(ts.logs.String(), "its limit (Config.MaxLogSize)") != 2 {
		t.Fatalf("second run: %d", r.status)
	}

	before := len(ts.logs.String())
	r = ts.do("GET", "/fan/a", "")
	if r.status != 500 || !strings.Contains(r.errorMessage(t), "more than 256 calls for one request (Config.MaxAPICalls)") {
		t.Fatalf("fan-out: %d %s", r.status, r.body)
	}
	fanLogs := ts.logs.String()[before:]
	if n := strings.Count(fanLogs, "script failed"); n > 300 {
		t.Fatalf("%d failures logged for one request", n)
	}
}

// Each limit stops the script that breaks it, and the next request runs normally. A case that
// tests a size or depth cap runs with a time limit of a minute, and a case that tests the time
// limit breaks nothing else, so that no case depends on which limit a slow machine reaches
// first.
func TestLimits(t *testing.T) {
	h := &echo{}
	var scripts []Script
	names := []string{"endless", "endless_pcall", "endless_coroutine", "rep", "gsub", "concat", "recursion", "coroutines",
		"fine", "caller", "pattern_backtrack", "pattern_exponential", "gsub_backtrack", "concat_range", "format_width",
		"format_many", "json_big", "json_encode_big", "sparse", "tailcall", "date", "overflow_text", "header_list"}
	timed := map[string]bool{"endless": true, "endless_pcall": true, "endless_coroutine": true, "pattern_backtrack": true,
		"pattern_exponential": true, "gsub_backtrack": true, "tailcall": true, "caller": true}
	for _, name := range names {
		s := luaFile(t, "lim."+name+".get.pre_process", "limits/"+name+".lua")
		if !timed[name] {
			s.TimeLimit = time.Minute
		}
		scripts = append(scripts, s)
	}
	ts := serve(t, Config{MaxStates: 1, TimeLimit: 100 * time.Millisecond, MaxTimeLimit: time.Minute, MaxStringSize: 1 << 20, MaxJSONSize: 1 << 20, Scripts: scripts}, h.handle)
	cases := []struct{ name, want string }{
		{"endless", "exceeded its time limit of 100ms"},
		{"endless_pcall", "exceeded its time limit of 100ms"},
		{"endless_coroutine", "exceeded its time limit of 100ms"},
		{"rep", "more than the string limit of 1048576 bytes"},
		{"gsub", "more than the string limit"},
		{"concat", "more than the string limit"},
		{"recursion", "stack overflow"},
		{"coroutines", "at most 64 coroutines"},
		{"pattern_backtrack", "exceeded its time limit of 100ms"},
		{"pattern_exponential", "exceeded its time limit of 100ms"},
		{"gsub_backtrack", "exceeded its time limit of 100ms"},
		{"format_width", "width or precision too long"},
		{"format_many", "more than the string limit"},
		{"json_big", "more than 1048576 bytes (Config.MaxJSONSize)"},
		{"json_encode_big", "more than 1048576 bytes (Config.MaxJSONSize)"},
		{"tailcall", "exceeded its time limit of 100ms"},
		{"date", "os.date: the format"},
		{"overflow_text", "stack overflow in my validator"},
		{"header_list", "control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := ts.do("GET", "/lim/"+c.name, "")
			if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, c.want) {
				t.Fatalf("%d %q, want %q", r.status, msg, c.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d) // a hang: every limit here stops its script far sooner
			}
			if r := ts.do("GET", "/lim/fine", ""); r.status != 200 || r.headers["x-fine"] != "yes" {
				t.Fatalf("the next request: %d %s", r.status, r.body)
			}
		})
	}
	if s := h.lastSeen(); s.Headers["x-a"] != "" {
		t.Fatal("a refused header replacement changed a header")
	}
	for _, name := range []string{"concat_range", "sparse"} {
		start := time.Now()
		if r := ts.do("GET", "/lim/"+name, ""); r.status != 200 || time.Since(start) > 20*time.Second {
			t.Fatalf("%s: %d %s after %v", name, r.status, r.body, time.Since(start))
		}
	}
	// A script's own error that mentions a limit does not cost a state.
	created := ts.mw.Stats().Pool.Created
	ts.do("GET", "/lim/overflow_text", "")
	ts.do("GET", "/lim/overflow_text", "")
	if n := ts.mw.Stats().Pool.Created; n != created {
		t.Fatalf("an ordinary error closed the state: %d states made, was %d", n, created)
	}
	// A straight-line script's in-process call to an endless one: the nested run is stopped by
	// the caller's limit, which it used up.
	start0 := time.Now()
	if r := ts.do("GET", "/lim/caller", ""); r.status != 500 || !strings.Contains(r.errorMessage(t), "lim.caller.get.pre_process: exceeded its time limit of 100ms") || time.Since(start0) > 20*time.Second {
		t.Fatalf("nested endless script: %d %s", r.status, r.body)
	}
	if !ts.mw.routes.Load().byName["lim.caller.get.pre_process"].straight || ts.mw.routes.Load().byName["lim.endless.get.pre_process"].straight {
		t.Fatal("straight-line detection")
	}
	// A per-script limit overrides the global one.
	long := luaFile(t, "lim.long.get.pre_process", "limits/endless.lua")
	long.TimeLimit = 300 * time.Millisecond
	if err := ts.mw.Set(long); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := ts.do("GET", "/lim/long", "")
	if d := time.Since(start); !strings.Contains(r.errorMessage(t), "time limit of 300ms") || d < 300*time.Millisecond {
		t.Fatalf("per-script limit: %s after %v", r.body, d)
	}
}

// Many requests at once, each checked for its own data: no state or event crosses requests.
func TestConcurrentRequests(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 4, Scripts: scriptsFrom(t, "concurrent")}, h.handle)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				id := fmt.Sprintf("%d-%d", g, i)
				kind := []string{"alpha", "beta", "gamma"}[i%3]
				r := ts.do("POST", "/c/"+kind, fmt.Sprintf(`{"n":%d}`, i), "X-Id", id)
				var v struct {
					Body   string `json:"body"`
					PostID string `json:"post_id"`
				}
				if err := json.Unmarshal([]byte(r.body), &v); err != nil {
					errs <- fmt.Errorf("%s: %v: %s", id, err, r.body)
					return
				}
				want := fmt.Sprintf(`{"echo":%q,"kind":%q,"n":%d}`, id, kind, i)
				if r.status != 200 || v.Body != want || v.PostID != id {
					errs <- fmt.Errorf("request %s got %d %s", id, r.status, r.body)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPassThroughWithoutScripts(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{Prefix: "/api"}, func(ctx *fasthttp.RequestCtx) { h.handle(ctx) })
	r := ts.do("POST", "/api/db/x?a=1", `{"z":1}`)
	if r.status != 200 || h.lastSeen().Body != `{"z":1}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// The memory guard stops the script that grows the heap, and only that one: after it is stopped,
// its garbage still counts as live until the next GC ends, and a script that runs long without
// allocating must not be stopped for it.
func TestMemoryGuard(t *testing.T) {
	ts := serve(t, Config{MaxStates: 2, TimeLimit: time.Minute, MemoryLimit: 128 << 20, Scripts: []Script{
		luaFile(t, "mem.grow.get.pre_process", "escape/huge_table.lua"),
		{Name: "mem.spin.get.pre_process", Source: `local t = os.clock()
while os.clock() - t < 0.2 do end
event.response.headers["x-spun"] = "yes"`},
	}}, (&echo{}).handle)
	for round := 0; round < 2; round++ {
		// Stopped by the guard, not by the time limit.
		r := ts.do("GET", "/mem/grow", "")
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, "the memory limit of 128 MiB") {
			t.Fatalf("round %d: the growing script: %d %q", round, r.status, msg)
		}
		for i := 0; i < 2; i++ {
			if r := ts.do("GET", "/mem/spin", ""); r.status != 200 || r.headers["x-spun"] != "yes" {
				t.Fatalf("round %d: a script that allocates nothing, after the growing one: %d %s", round, r.status, r.body)
			}
		}
	}
}
