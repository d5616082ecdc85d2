package fastlua

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// errorLog keeps what Config.OnError was given.
type errorLog struct {
	mu   sync.Mutex
	errs []ScriptError
	path []string
}

func (l *errorLog) hook(ctx *fasthttp.RequestCtx, err *ScriptError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, *err)
	l.path = append(l.path, string(ctx.Path()))
}

func (l *errorLog) take() ([]ScriptError, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs, path := l.errs, l.path
	l.errs, l.path = nil, nil
	return errs, path
}

// hookScripts are testdata/hooks, with the timeout script's short limit and the open one
// failing open.
func hookScripts(t *testing.T) []Script {
	scripts := scriptsFrom(t, "hooks")
	for i := range scripts {
		switch scripts[i].Name {
		case "h.timeout.get.pre_process":
			scripts[i].TimeLimit = 100 * time.Millisecond
		case "h.open.get.pre_process":
			scripts[i].FailOpen = true
		}
	}
	return scripts
}

// Config.OnError sees every kind of script failure a request can meet, with the script, event,
// phase, kind, status, line and traceback, before the answer is written; fail-open failures
// too, flagged.
func TestOnErrorSeesEveryFailure(t *testing.T) {
	var log errorLog
	var handler echo
	var statusAtHook sync.Map // path -> the response status the hook saw
	cfg := Config{Scripts: hookScripts(t), MaxStates: 1, OnError: func(ctx *fasthttp.RequestCtx, err *ScriptError) {
		statusAtHook.Store(string(ctx.Path()), ctx.Response.StatusCode())
		log.hook(ctx, err)
	}}
	ts := serve(t, cfg, handler.handle)
	installGoFunctions(t, ts)

	cases := []struct {
		path   string
		kind   ErrorKind
		status int
		phase  string
		line   int
		open   bool
	}{
		{"/h/panic", KindPanic, 500, "pre_process", 0, false}, // first: its state has boom (installGoFunctions)
		{"/h/runtime", KindRuntime, 500, "pre_process", 2, false},
		{"/h/raised", KindRaised, 422, "pre_process", 0, false},
		{"/h/timeout", KindTimeout, 500, "pre_process", 0, false},
		{"/h/limit", KindLimit, 500, "pre_process", 0, false},
		{"/h/modification", KindModification, 500, "pre_process", 0, false},
		{"/h/open", KindRuntime, 200, "pre_process", 1, true},
		{"/h/post", KindRuntime, 500, "post_process", 1, false},
	}
	for _, c := range cases {
		t.Run(c.kind.String()+c.path, func(t *testing.T) {
			r := ts.do("GET", c.path, "")
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			errs, paths := log.take()
			if len(errs) != 1 {
				t.Fatalf("OnError called %d times, want once: %+v", len(errs), errs)
			}
			se := errs[0]
			name := strings.ReplaceAll(strings.TrimPrefix(c.path, "/"), "/", ".") + ".get." + c.phase
			if paths[0] != c.path || se.Script != name || se.Event != name || se.Phase != c.phase {
				t.Fatalf("hook saw path %q script %q event %q phase %q, want %q and %q, %q", paths[0], se.Script, se.Event, se.Phase, c.path, name, c.phase)
			}
			if se.Kind != c.kind || se.Status != c.status && !c.open || se.FailOpen != c.open {
				t.Fatalf("hook saw kind %v status %d open %v, want %v %d %v", se.Kind, se.Status, se.FailOpen, c.kind, c.status, c.open)
			}
			if c.line != 0 && se.Line != c.line {
				t.Fatalf("line %d, want %d (%s)", se.Line, c.line, se.Message)
			}
			if (c.kind == KindRuntime || c.kind == KindPanic) && se.Traceback == "" {
				t.Fatalf("no traceback for %v", c.kind)
			}
			if se.Message == "" {
				t.Fatal("no message")
			}
			if c.phase == "pre_process" && !c.open {
				// Before the answer: the response the hook saw was not the error's yet.
				if st, _ := statusAtHook.Load(c.path); st != 200 {
					t.Fatalf("the hook ran after the answer was written (status %v)", st)
				}
			}
		})
	}
}

// Config.ErrorWriter writes the error answer instead of DreamFactory's body; the hook and the
// writer see the same error.
func TestErrorWriterReplacesTheBody(t *testing.T) {
	var handler echo
	cfg := Config{Scripts: hookScripts(t), HideErrors: true,
		ErrorWriter: func(ctx *fasthttp.RequestCtx, err *ScriptError) {
			ctx.SetStatusCode(err.Status)
			ctx.SetContentType("application/problem+json")
			ctx.SetBodyString(`{"status":` + strconv.Itoa(err.Status) + `,"title":` + strconv.Quote(err.ClientMessage(true)) +
				`,"kind":"` + err.Kind.String() + `"}`)
		}}
	ts := serve(t, cfg, handler.handle)

	r := ts.do("GET", "/h/raised", "")
	if r.status != 422 || r.headers["content-type"] != "application/problem+json" ||
		r.body != `{"status":422,"title":"Unprocessable thing","kind":"raised"}` {
		t.Fatalf("got %d %q %s", r.status, r.headers["content-type"], r.body)
	}
	r = ts.do("GET", "/h/runtime", "")
	if r.status != 500 || r.body != `{"status":500,"title":"Internal Server Error","kind":"runtime"}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	r = ts.do("GET", "/h/post", "")
	if r.status != 500 || r.headers["x-handler"] != "" || !strings.Contains(r.body, `"kind":"runtime"`) {
		t.Fatalf("post_process failure: got %d %v %s", r.status, r.headers, r.body)
	}
	// A fail-open failure writes nothing.
	if r = ts.do("GET", "/h/open", ""); r.status != 200 || r.headers["x-handler"] != "echo" {
		t.Fatalf("fail-open: got %d %s", r.status, r.body)
	}
	// Without an ErrorWriter, DreamFactory's body stays.
	plain := serve(t, Config{Scripts: hookScripts(t)}, handler.handle)
	if r = plain.do("GET", "/h/raised", ""); r.status != 422 || r.errorMessage(t) != "Unprocessable thing" {
		t.Fatalf("default body: got %d %s", r.status, r.body)
	}
}

// A request no Lua state became free for reaches Config.OnError as KindUnavailable (503),
// before the answer is written. The one state is held by a script whose in-process call waits
// in the handler until the test lets it go, so the second request meets a busy pool for
// certain, whatever the machine's speed: PoolTimeout only says how long it waits.
func TestOnErrorSeesUnavailable(t *testing.T) {
	var log errorLog
	entered, release := make(chan struct{}), make(chan struct{})
	handler := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/inner/hold" {
			close(entered)
			<-release
		}
		ctx.SetBodyString("{}")
	}
	scripts := hookScripts(t)
	for i := range scripts {
		if scripts[i].Name == "h.hold.get.pre_process" {
			scripts[i].TimeLimit = 30 * time.Second // held by the test, not by its own time
		}
	}
	var statusAtHook int
	ts := serve(t, Config{Scripts: scripts, MaxStates: 1, PoolTimeout: 10 * time.Millisecond,
		OnError: func(ctx *fasthttp.RequestCtx, err *ScriptError) {
			statusAtHook = ctx.Response.StatusCode()
			log.hook(ctx, err)
		}}, handler)

	type result struct {
		status int
		held   string
		err    error
	}
	held := make(chan result, 1)
	go func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + ts.addr + "/h/hold")
		err := fasthttp.DoTimeout(req, resp, time.Minute)
		held <- result{resp.StatusCode(), string(resp.Header.Peek("X-Held")), err}
	}()
	select {
	case <-entered: // the only state is taken until release
	case h := <-held:
		t.Fatalf("the holding request ended before its call reached the handler: %+v", h)
	case <-time.After(time.Minute):
		t.Fatal("the holding request's call never reached the handler")
	}
	r := ts.do("GET", "/h/runtime", "", "X-Request-Id", "busy-1")
	close(release)
	if r.status != 503 || !strings.Contains(r.errorMessage(t), "MaxStates") {
		t.Fatalf("busy pool: %d %s", r.status, r.body)
	}
	errs, paths := log.take()
	if len(errs) != 1 {
		t.Fatalf("OnError called %d times, want once: %+v", len(errs), errs)
	}
	se := errs[0]
	if se.Kind != KindUnavailable || se.Status != 503 || se.Phase != "pre_process" || se.Script != "" ||
		se.Event != "h.runtime.get.pre_process" || se.RequestID != "busy-1" || paths[0] != "/h/runtime" || se.FailOpen {
		t.Fatalf("hook saw %+v at %s", se, paths[0])
	}
	if se.Err != ErrPoolTimeout {
		t.Fatalf("hook's error wraps %v, want ErrPoolTimeout", se.Err)
	}
	if statusAtHook != 200 {
		t.Fatalf("the hook ran after the answer was written (status %d)", statusAtHook)
	}
	if h := <-held; h.err != nil || h.status != 200 || h.held != "200" {
		t.Fatalf("the holding request: %+v", h)
	}
}
