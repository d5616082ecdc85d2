package fastluatest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// The harness serves a test file's requests: a fasthttp server on 127.0.0.1 whose handler is
// the middleware of the request being made (fastlua.New and Wrap, anew for each request, over
// the test's store), and a second server that answers outbound platform.api calls with the
// test's stubs (plain HTTP and, told apart by the first byte, TLS). Lua runs only on the test's
// goroutine: the handler and the stubs, which run on the servers' goroutines, hand their Lua
// work to it (run) while fastlua.request waits (pump).

type harness struct {
	L       *lua.LState
	scripts []fastlua.Script
	opt     Options

	srv, stubSrv       *fasthttp.Server
	addr, stubAddr     string
	client             *fasthttp.HostClient
	current            atomic.Pointer[fasthttp.RequestHandler]
	tasks              chan func()
	done               sync.WaitGroup
	listener, stubList net.Listener

	// Per test.
	prefix     string
	store      fastlua.Store
	config     any
	session    any
	hasSession bool
	handler    *lua.LFunction
	handlerErr error
	stubs      []stub
	clock      *time.Time

	mu    sync.Mutex
	calls []map[string]any // the requests the handler received
	logs  []logRecord      // the scripts' records of the last request
}

type stub struct {
	prefix   string
	response lua.LValue // a table, or a function of the request
}

type logRecord struct {
	level   slog.Level
	message string
	script  string
	fields  map[string]any
}

func newHarness(scripts []fastlua.Script, opt Options) (*harness, error) {
	h := &harness{scripts: scripts, opt: opt, tasks: make(chan func())}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	stubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	cert, err := selfSigned()
	if err != nil {
		ln.Close()
		stubLn.Close()
		return nil, err
	}
	h.listener, h.stubList = ln, stubLn
	h.addr, h.stubAddr = ln.Addr().String(), stubLn.Addr().String()
	h.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { (*h.current.Load())(ctx) },
		NoDefaultServerHeader: true, NoDefaultDate: true, Logger: discardLogger{}}
	h.stubSrv = &fasthttp.Server{Handler: h.serveStub, NoDefaultServerHeader: true, Logger: discardLogger{}}
	none := fasthttp.RequestHandler(func(ctx *fasthttp.RequestCtx) { ctx.Error("no request is being made", 500) })
	h.current.Store(&none)
	h.done.Add(2)
	go func() { defer h.done.Done(); _ = h.srv.Serve(ln) }()
	go func() {
		defer h.done.Done()
		_ = h.stubSrv.Serve(&sniffListener{Listener: stubLn, tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	h.client = &fasthttp.HostClient{Addr: h.addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		NoDefaultUserAgentHeader: true, DisablePathNormalizing: true, MaxResponseBodySize: 256 << 20}
	return h, nil
}

func (h *harness) close() {
	// The listeners first: Shutdown closes only those Serve has taken, and it may not have yet.
	h.listener.Close()
	h.stubList.Close()
	_ = h.srv.Shutdown()
	_ = h.stubSrv.Shutdown()
	h.done.Wait()
}

// reset prepares the harness for a test.
func (h *harness) reset() {
	h.prefix = h.opt.Prefix
	h.store = fastlua.NewMemoryStore()
	h.config, h.session, h.hasSession = nil, nil, false
	h.handler, h.handlerErr = nil, nil
	h.stubs = nil
	h.clock = nil
	h.mu.Lock()
	h.calls, h.logs = nil, nil
	h.mu.Unlock()
}

// run runs f on the test's goroutine (which is in pump) and waits for it.
func (h *harness) run(f func()) {
	done := make(chan struct{})
	h.tasks <- func() { defer close(done); f() }
	<-done
}

// pump runs work on another goroutine and, until it ends, the Lua work handed to it.
func (h *harness) pump(work func()) {
	done := make(chan struct{})
	go func() { defer close(done); work() }()
	for {
		select {
		case f := <-h.tasks:
			f()
		case <-done:
			return
		}
	}
}

// config builds the middleware's Config for a request.
func (h *harness) middlewareConfig() fastlua.Config {
	cfg := fastlua.Config{
		Prefix:         h.prefix,
		Scripts:        h.scripts,
		Store:          h.store,
		PlatformConfig: h.config,
		Logger:         slog.New(&captureHandler{h: h}),
		TimeLimit:      10 * time.Second,
		HTTPTimeout:    30 * time.Second,
		HTTPClient: &fasthttp.Client{
			Dial:                     func(string) (net.Conn, error) { return net.Dial("tcp", h.stubAddr) },
			TLSConfig:                &tls.Config{InsecureSkipVerify: true}, // the stub server's own certificate
			NoDefaultUserAgentHeader: true, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		},
	}
	if h.hasSession {
		sess := h.session
		cfg.Session = func(*fasthttp.RequestCtx) any { return sess }
	}
	for _, s := range h.stubs {
		if u, err := url.Parse(s.prefix); err == nil && u.Hostname() != "" && !slices.Contains(cfg.AllowedHosts, u.Hostname()) {
			cfg.AllowedHosts = append(cfg.AllowedHosts, u.Hostname())
		}
	}
	if h.clock != nil {
		at := *h.clock
		cfg.Clock = func() time.Time { return at }
	}
	return cfg
}

// request is fastlua.request{method, path, headers, query, body}.
func (h *harness) request(L *lua.LState) int {
	opt := L.CheckTable(1)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if err := buildRequest(req, opt, h.addr); err != nil {
		L.ArgError(1, err.Error())
	}
	m, err := fastlua.New(h.middlewareConfig())
	if err != nil {
		L.RaiseError("fastlua.request: the scripts do not load: %v", err)
	}
	h.mu.Lock()
	h.logs = nil
	h.mu.Unlock()
	wrapped := m.Wrap(h.serveApp)
	h.current.Store(&wrapped)
	var doErr, closeErr error
	h.pump(func() {
		doErr = h.client.Do(req, resp)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		closeErr = m.Close(ctx) // runs the queued scripts
	})
	if doErr != nil {
		L.RaiseError("fastlua.request: %v", doErr)
	}
	if closeErr != nil {
		L.RaiseError("fastlua.request: the queued scripts did not all run: %v", closeErr)
	}
	L.Push(responseTable(L, resp))
	return 1
}

// buildRequest fills req from fastlua.request's table.
func buildRequest(req *fasthttp.Request, opt *lua.LTable, addr string) error {
	method := "GET"
	if m, ok := opt.RawGetString("method").(lua.LString); ok {
		method = strings.ToUpper(string(m))
	}
	path, ok := opt.RawGetString("path").(lua.LString)
	if !ok || !strings.HasPrefix(string(path), "/") {
		return errors.New("path must be a string starting with /")
	}
	uri := string(path)
	if q, ok := opt.RawGetString("query").(*lua.LTable); ok {
		args := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(args)
		for _, k := range tableKeys(q) {
			args.Add(lua.LVAsString(k), lua.LVAsString(q.RawGet(k)))
		}
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		uri += sep + args.String()
	}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(addr)
	if hd, ok := opt.RawGetString("headers").(*lua.LTable); ok {
		hd.ForEach(func(k, v lua.LValue) { req.Header.Set(lua.LVAsString(k), lua.LVAsString(v)) })
	}
	switch b := opt.RawGetString("body").(type) {
	case lua.LString:
		req.SetBodyString(string(b))
	case *lua.LTable:
		var enc bridge.Encoder
		text, err := enc.Encode(b)
		if err != nil {
			return fmt.Errorf("body: %v", err)
		}
		req.SetBody(text)
		if len(req.Header.ContentType()) == 0 || string(req.Header.ContentType()) == "application/octet-stream" {
			req.Header.SetContentType("application/json")
		}
	case *lua.LNilType:
	default:
		return fmt.Errorf("body must be a string or a table, not a %s", b.Type())
	}
	return nil
}

// responseTable is {status_code, headers, content, content_type}.
func responseTable(L *lua.LState, resp *fasthttp.Response) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("status_code", lua.LNumber(resp.StatusCode()))
	headers := L.NewTable()
	resp.Header.VisitAll(func(k, v []byte) {
		key := strings.ToLower(string(k))
		if old, ok := headers.RawGetString(key).(lua.LString); ok {
			headers.RawSetString(key, old+","+lua.LString(v))
		} else {
			headers.RawSetString(key, lua.LString(v))
		}
	})
	t.RawSetString("headers", headers)
	ct := resp.Header.ContentType()
	if len(ct) > 0 {
		t.RawSetString("content_type", lua.LString(ct))
	}
	body := resp.Body()
	var content lua.LValue = lua.LString(body)
	if bridge.LooksJSON(ct, body) {
		if v, err := bridge.DecodeJSON(L, body); err == nil {
			content = v
		}
	}
	t.RawSetString("content", content)
	return t
}

// describeRequest is the request as the handler receives it: {method, path, headers, query,
// payload, content}.
func describeRequest(ctx *fasthttp.RequestCtx) map[string]any {
	headers := map[string]any{}
	ctx.Request.Header.VisitAll(func(k, v []byte) {
		key := strings.ToLower(string(k))
		if old, ok := headers[key].(string); ok {
			headers[key] = old + "," + string(v)
		} else {
			headers[key] = string(v)
		}
	})
	query := map[string]any{}
	ctx.QueryArgs().VisitAll(func(k, v []byte) { query[string(k)] = string(v) })
	body := ctx.Request.Body()
	var payload any
	if bridge.LooksJSON(ctx.Request.Header.ContentType(), body) {
		_ = json.Unmarshal(body, &payload)
	}
	return map[string]any{"method": string(ctx.Method()), "path": string(ctx.Path()), "headers": headers,
		"query": query, "payload": payload, "content": string(body)}
}

// Echo is a handler that answers 200 with JSON describing the request it received:
// {"method", "path", "headers" (lower-case names), "query", "payload" (the body decoded when
// it is JSON, else null), "content" (the body)}. It is the default handler of script tests,
// and fastlua run's without -upstream.
func Echo(ctx *fasthttp.RequestCtx) {
	b, err := json.Marshal(describeRequest(ctx))
	if err != nil {
		ctx.Error(err.Error(), 500)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// serveApp is the handler behind the middleware: the test's fastlua.handler, or Echo.
func (h *harness) serveApp(ctx *fasthttp.RequestCtx) {
	req := describeRequest(ctx)
	h.mu.Lock()
	h.calls = append(h.calls, req)
	h.mu.Unlock()
	if h.handler == nil {
		Echo(ctx)
		return
	}
	h.run(func() {
		L := h.L
		err := L.CallByParam(lua.P{Fn: h.handler, NRet: 1, Protect: true}, toLua(L, req))
		if err != nil {
			if h.handlerErr == nil {
				h.handlerErr = fmt.Errorf("fastlua.handler's function failed: %w", err)
			}
			fasthttpError(ctx, 500, "fastlua.handler's function failed: "+err.Error())
			return
		}
		ret := L.Get(-1)
		L.Pop(1)
		writeResponse(ctx, ret)
	})
}

// writeResponse answers with {status_code, headers, content}; content as JSON when it is a table.
func writeResponse(ctx *fasthttp.RequestCtx, v lua.LValue) {
	t, ok := v.(*lua.LTable)
	if !ok {
		fasthttpError(ctx, 500, "the function must return {status_code, headers, content}, not "+show(v))
		return
	}
	status := 200
	if n, ok := t.RawGetString("status_code").(lua.LNumber); ok {
		status = int(n)
	}
	ctx.SetStatusCode(status)
	if hd, ok := t.RawGetString("headers").(*lua.LTable); ok {
		hd.ForEach(func(k, v lua.LValue) { ctx.Response.Header.Set(lua.LVAsString(k), lua.LVAsString(v)) })
	}
	switch c := t.RawGetString("content").(type) {
	case *lua.LTable:
		var enc bridge.Encoder
		b, err := enc.Encode(c)
		if err != nil {
			fasthttpError(ctx, 500, "content: "+err.Error())
			return
		}
		if len(ctx.Response.Header.ContentType()) == 0 || string(ctx.Response.Header.ContentType()) == "text/plain; charset=utf-8" {
			ctx.SetContentType("application/json")
		}
		ctx.SetBody(b)
	case lua.LString:
		ctx.SetBodyString(string(c))
	}
}

func fasthttpError(ctx *fasthttp.RequestCtx, status int, msg string) {
	fastlua.WriteError(&ctx.Response, status, msg)
}

// serveStub answers an outbound platform.api call with the longest matching stub.
func (h *harness) serveStub(ctx *fasthttp.RequestCtx) {
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	full := scheme + "://" + string(ctx.Host()) + string(ctx.RequestURI())
	h.run(func() {
		var best *stub
		for i := range h.stubs {
			if s := &h.stubs[i]; strings.HasPrefix(full, s.prefix) && (best == nil || len(s.prefix) > len(best.prefix)) {
				best = s
			}
		}
		if best == nil {
			fasthttpError(ctx, 502, "fastlua test: no fastlua.http stub for "+full)
			return
		}
		resp := best.response
		if fn, ok := resp.(*lua.LFunction); ok {
			L := h.L
			req := describeRequest(ctx)
			req["url"] = full
			if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, toLua(L, req)); err != nil {
				if h.handlerErr == nil {
					h.handlerErr = fmt.Errorf("the fastlua.http function for %s failed: %w", best.prefix, err)
				}
				fasthttpError(ctx, 500, err.Error())
				return
			}
			resp = L.Get(-1)
			L.Pop(1)
		}
		writeResponse(ctx, resp)
	})
}

// captureHandler keeps the records the scripts logged (those naming a script, except the
// middleware's own) for fastlua.logs.
type captureHandler struct {
	h     *harness
	attrs []slog.Attr
}

func (c *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (c *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, message: r.Message, fields: map[string]any{}}
	add := func(a slog.Attr) bool {
		switch a.Key {
		case "script":
			rec.script = a.Value.String()
		case "event":
		default:
			rec.fields[a.Key] = a.Value.Any()
		}
		return true
	}
	for _, a := range c.attrs {
		add(a)
	}
	r.Attrs(add)
	if rec.script == "" || strings.HasPrefix(rec.message, "fastlua: ") {
		return nil
	}
	c.h.mu.Lock()
	c.h.logs = append(c.h.logs, rec)
	c.h.mu.Unlock()
	return nil
}

func (c *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{h: c.h, attrs: append(slices.Clone(c.attrs), as...)}
}

func (c *captureHandler) WithGroup(string) slog.Handler { return c }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// sniffListener serves TLS to connections that start with a TLS handshake record, plain
// HTTP to the others.
type sniffListener struct {
	net.Listener
	tls *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := &peekedConn{Conn: c}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := c.Read(pc.first[:])
	_ = c.SetReadDeadline(time.Time{})
	if err != nil || n == 0 {
		c.Close()
		return l.Accept()
	}
	pc.pending = true
	if pc.first[0] == 0x16 {
		return tls.Server(pc, l.tls), nil
	}
	return pc, nil
}

type peekedConn struct {
	net.Conn
	first   [1]byte
	pending bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		c.pending = false
		p[0] = c.first[0]
		return 1, nil
	}
	return c.Conn.Read(p)
}

// selfSigned makes the stub server's certificate.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fastlua test stub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"*"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
