package fastlua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// The platform object.
//
//	platform.api.get|post|put|patch|delete(path, payload, options)
//	platform.config      the Go value of Config.PlatformConfig, read-only
//	platform.session     the Go value Config.Session built from the request, read-only
//	platform.store       get(k), set(k, v, ttl), incr(k, by, ttl), delete(k) on Config.Store
//
// platform.api with a relative path ("service/resource?query") runs the request in process:
// the target is decoded once and encoded again (apiTarget, in paths.go), a RequestCtx is filled
// (the caller's headers, minus those that describe the caller's body or connection, then
// options.headers; options.parameters merged into the query; payload as JSON when a table, as
// it is when a string) and handed to this middleware and the handler it wraps, so the target's
// own scripts run, on the caller's Lua state (a nested call never waits for the pool) and
// within the caller's time limit, whose deadline the handler reads with Deadline. Calls nest
// up to MaxAPIDepth. With an http:// or https:// URL the request goes out through a fasthttp
// client, only to Config.AllowedHosts, with Config.HTTPTimeout (or the run's remaining time, if
// shorter); the caller's headers are not sent. A call that returns after the script's deadline
// fails it with its time-limit error (outOfTime). Either way the result is
// {status_code, headers, content, content_type}, content decoded when it is JSON. HTTP errors
// are results, not Lua errors; a request that could not be made at all is a 502 result (504 on
// a timeout). Bad arguments raise an error.
//
// platform.config and platform.session are bridged with gopher-luar: maps, slices and structs
// are read through it (struct fields by their name or with a lower-case first letter), every
// write raises an error, and methods are not exposed. The session is built once per request,
// on first use, and shared with the platform.api calls the request makes and with its queued
// scripts (for which it is built before the handler returns).

// MaxAPIDepth is how deep platform.api calls may nest.
const MaxAPIDepth = 8

// platform is the platform object of one level of a state.
type platform struct {
	lv      *level
	ud      *lua.LUserData
	inner   *lua.LTable
	hasSess bool // inner holds the request's session
}

func (st *state) newPlatform(lv *level) *platform {
	L := st.L
	p := &platform{lv: lv}
	api := L.CreateTable(0, 5)
	for _, method := range []string{"get", "post", "put", "patch", "delete"} {
		upper := strings.ToUpper(method)
		api.RawSetString(method, L.NewFunction(func(L *lua.LState) int { return p.call(L, upper) }))
	}
	p.inner = L.CreateTable(0, 4)
	p.inner.RawSetString("api", st.readOnly(L, "platform.api", api))
	p.inner.RawSetString("store", st.storeModule)
	p.inner.RawSetString("config", st.config)
	innerMeta := L.CreateTable(0, 1)
	innerMeta.RawSetString("__index", L.NewFunction(p.index))
	p.inner.Metatable = innerMeta
	p.ud = L.NewUserData()
	p.ud.Metatable = bridge.ObjectMeta(L, "platform", p.inner, L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("platform.%s cannot be changed", L.CheckString(2))
		return 0
	}), []string{"api", "config", "session", "store"})
	return p
}

// index produces platform.session; args are (inner, key).
func (p *platform) index(L *lua.LState) int {
	if key, _ := L.Get(2).(lua.LString); key == "session" {
		x := p.lv.x
		if x == nil {
			L.RaiseError("platform.session is only available while a script runs")
		}
		v, _ := x.sessionValue()
		sess := p.lv.st.readOnlyGo(L, "platform.session", v)
		p.inner.RawSetString("session", sess) // until unbind
		p.hasSess = true
		L.Push(sess)
		return 1
	}
	L.Push(lua.LNil)
	return 1
}

// unbind drops what the platform object cached for a request.
func (p *platform) unbind() {
	if p.hasSess {
		p.inner.RawSetString("session", lua.LNil)
		p.hasSess = false
	}
}

// readOnlyGo bridges a Go value with gopher-luar and wraps what luar makes (maps, slices,
// structs, pointers) in a proxy that refuses writes, also for the values read through it.
func (st *state) readOnlyGo(L *lua.LState, name string, v any) lua.LValue {
	if v == nil {
		return lua.LNil
	}
	if _, isLua := v.(lua.LValue); isLua {
		// A Lua value made elsewhere could be shared and written: refuse it.
		return lua.LNil
	}
	return st.wrapReadOnly(L, name, luar.New(L, v))
}

func (st *state) wrapReadOnly(L *lua.LState, name string, v lua.LValue) lua.LValue {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return v // strings, numbers, booleans; functions from func values
	}
	proxy := L.NewUserData()
	proxy.Value = roValue{name: name, ud: ud}
	proxy.Metatable = st.roMeta
	return proxy
}

type roValue struct {
	name string
	ud   *lua.LUserData
}

// newROMeta is the metatable of read-only Go values.
func (st *state) newROMeta(L *lua.LState) *lua.LTable {
	get := func(L *lua.LState) roValue { return L.CheckUserData(1).Value.(roValue) }
	mt := L.CreateTable(0, 7)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		ro := get(L)
		L.Push(st.wrapReadOnly(L, ro.name, L.GetTable(ro.ud, L.Get(2))))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s is read-only", get(L).name)
		return 0
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(L.ObjLen(get(L).ud)))
		return 1
	}))
	// pairs over maps and slices, through luar's iterator (its __call), wrapping the values.
	mt.RawSetString("__pairs", L.NewFunction(func(L *lua.LState) int {
		ro := get(L)
		if mt, ok := ro.ud.Metatable.(*lua.LTable); !ok || mt.RawGetString("__call") == lua.LNil {
			L.RaiseError("%s: pairs works on maps and slices only", ro.name)
		}
		L.Push(ro.ud)
		L.Call(0, 1)
		it := L.Get(-1)
		L.Pop(1)
		L.Push(L.NewFunction(func(L *lua.LState) int {
			L.Push(it)
			L.Call(0, 2)
			k, v := L.Get(-2), L.Get(-1)
			L.Pop(2)
			if k == lua.LNil {
				return 0
			}
			L.Push(k)
			L.Push(st.wrapReadOnly(L, ro.name, v))
			return 2
		}))
		L.Push(lua.LNil)
		L.Push(lua.LNil)
		return 3
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(get(L).name))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("read-only"))
	return mt
}

// call is platform.api.<method>(path, payload, options).
func (p *platform) call(L *lua.LState, method string) int {
	x := p.lv.x
	if x == nil {
		L.RaiseError("platform.api is only available while a script runs")
	}
	target := L.CheckString(1)
	payload := L.Get(2)
	switch payload.(type) {
	case *lua.LNilType, *lua.LTable, lua.LString, *lua.LUserData:
	default:
		L.ArgError(2, "the payload must be a table, a string or nil, not "+payload.Type().String())
	}
	var opts *lua.LTable
	if o := L.Get(3); o != lua.LNil {
		opts = L.CheckTable(3)
	}
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return p.external(L, method, target, payload, opts)
	}
	if i := controlByte(target); i >= 0 {
		L.ArgError(1, fmt.Sprintf("the path holds a control character (byte %d)", i+1))
	}
	root := x.rootExchange()
	if root.apiCalls >= x.m.cfg.MaxAPICalls {
		L.RaiseError("platform.api: more than %d calls for one request (Config.MaxAPICalls)", x.m.cfg.MaxAPICalls)
	}
	root.apiCalls++
	if x.depth+1 > MaxAPIDepth {
		L.RaiseError("platform.api: calls nest deeper than %d (does a script call itself?)", MaxAPIDepth)
	}
	m := x.m
	reqURI, path, err := m.apiTarget(target)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	call := "platform.api." + strings.ToLower(method) + "(" + fmt.Sprintf("%q", target) + ")"
	st := p.lv.st
	deadline, limited := st.runDeadline()
	if limited && !time.Now().Before(deadline) {
		st.outOfTime(L, call)
	}
	n := acquireNested()
	defer releaseNested(n)
	n.conn = fakeConn{remote: x.ctx.RemoteAddr(), local: x.ctx.LocalAddr()}
	n.ctx.Init2(&n.conn, m.fhLogger, false)
	req := &n.ctx.Request
	// The caller's headers carry its credentials: the nested request shares its session.
	for k, v := range x.ctx.Request.Header.All() {
		if !bodyHeader(k) {
			req.Header.AddBytesKV(k, v)
		}
	}
	req.Header.SetMethod(method)
	req.SetRequestURIBytes(reqURI)
	if string(req.URI().Path()) != path {
		// AppendPath and fasthttp's decoding disagree: fail closed rather than call a path
		// the checks above did not see.
		L.ArgError(1, fmt.Sprintf("the path %q cannot be sent as it is", path))
	}
	if err := p.fillRequest(L, req, payload, opts); err != nil {
		L.RaiseError("%s: %s", call, err.Error())
	}
	if limited {
		// The handler below cannot be interrupted: it reads the deadline (Deadline).
		n.deadline = deadline
		n.ctx.SetUserValue(deadlineKey{}, &n.deadline)
	}
	m.serveNested(&n.ctx, x)
	if limited && st.pastDeadline(deadline) {
		st.outOfTime(L, call)
	}
	if st.broken {
		// The nested run broke the state (a limit): the caller cannot go on with it.
		L.RaiseError("%s: the called script broke a limit of the Lua state", call)
	}
	L.Push(responseTable(L, &n.ctx.Response, m.cfg.MaxJSONSize))
	return 1
}

// Deadline returns when the time of the script behind ctx runs out, for a request that is an
// in-process platform.api call of a script with a time limit; ok is false for any other
// request (those from the network among them). A Go handler cannot be interrupted, so one that
// may take long (a proxy's upstream call, a slow query) should stop by the deadline: past it,
// the calling script fails with its time-limit error whatever the handler answers, and the
// state it holds is only freed when the handler returns. The value is valid while the handler
// runs.
func Deadline(ctx *fasthttp.RequestCtx) (deadline time.Time, ok bool) {
	if d, isSet := ctx.UserValue(deadlineKey{}).(*time.Time); isSet && d != nil {
		return *d, true
	}
	return time.Time{}, false
}

// deadlineKey is the user value of a nested RequestCtx that holds its deadline.
type deadlineKey struct{}

// bodyHeader reports headers that describe the caller's body or connection, which a nested
// request does not inherit. Accept-Encoding is one: the script reads the nested answer, which
// would only be compressed to be decompressed again.
func bodyHeader(k []byte) bool {
	switch strings.ToLower(string(k)) {
	case "content-type", "content-length", "transfer-encoding", "connection", "content-encoding", "accept-encoding", "expect", "upgrade":
		return true
	}
	return false
}

// fillRequest applies the payload and options to a request.
func (p *platform) fillRequest(L *lua.LState, req *fasthttp.Request, payload lua.LValue, opts *lua.LTable) error {
	if opts != nil {
		if h := opts.RawGetString("headers"); h != lua.LNil {
			tb, ok := h.(*lua.LTable)
			if !ok {
				return errors.New("options.headers must be a table")
			}
			var err error
			tb.ForEach(func(k, v lua.LValue) {
				ks, vs := lua.LVAsString(k), lua.LVAsString(v)
				if err == nil && (ks == "" || strings.ContainsAny(ks+vs, "\r\n\x00") || strings.ContainsAny(ks, " :")) {
					err = fmt.Errorf("options.headers[%q] is not a valid header", ks)
				}
				if err == nil {
					req.Header.Set(ks, vs)
				}
			})
			if err != nil {
				return err
			}
		}
		if q := opts.RawGetString("parameters"); q != lua.LNil {
			tb, ok := q.(*lua.LTable)
			if !ok {
				return errors.New("options.parameters must be a table")
			}
			// Merged into the query as event.request.parameters writes them: every accessor
			// of the request (its query string, its request line) agrees.
			if err := bridge.SetParameters(req, "options.parameters", tb); err != nil {
				return err
			}
		}
	}
	switch v := payload.(type) {
	case lua.LString:
		req.SetBodyString(string(v))
	case *lua.LTable, *lua.LUserData:
		b, err := p.lv.st.enc.Encode(v)
		if err != nil {
			return fmt.Errorf("the payload: %w", err)
		}
		req.SetBody(b)
		if len(req.Header.ContentType()) == 0 {
			req.Header.SetContentType("application/json")
		}
	}
	return nil
}

// responseTable converts a response to {status_code, headers, content, content_type}. The
// content is the body decoded from its Content-Encoding, as event.response.content is (at most
// maxBody bytes: Config.MaxJSONSize; past it, or when the body cannot be decoded, the script
// fails), and then the headers describe it: without Content-Encoding and Content-Length.
func responseTable(L *lua.LState, resp *fasthttp.Response, maxBody int) *lua.LTable {
	body, decoded, err := bridge.ResponseText(resp, maxBody)
	if err != nil {
		L.RaiseError("platform.api: the response: %s", err.Error())
	}
	t := L.CreateTable(0, 4)
	t.RawSetString("status_code", lua.LNumber(resp.StatusCode()))
	h := L.CreateTable(0, 8)
	for k, v := range resp.Header.All() {
		name := strings.ToLower(string(k))
		if decoded && (name == "content-encoding" || name == "content-length") {
			continue
		}
		if prev, ok := h.RawGetString(name).(lua.LString); ok {
			h.RawSetString(name, lua.LString(string(prev)+","+string(v)))
		} else {
			h.RawSetString(name, lua.LString(v))
		}
	}
	t.RawSetString("headers", h)
	ct := resp.Header.ContentType()
	if len(ct) > 0 {
		t.RawSetString("content_type", lua.LString(ct))
	}
	var content lua.LValue = lua.LString(body)
	if bridge.LooksJSON(ct, body) {
		if v, err := bridge.DecodeJSON(L, body); err == nil {
			content = v
		}
	}
	t.RawSetString("content", content)
	return t
}

// external sends a request to an allowed host.
func (p *platform) external(L *lua.LState, method, target string, payload lua.LValue, opts *lua.LTable) int {
	st := p.lv.st
	m := st.m
	// A fragment is not sent; what a query cannot hold (a raw space) is escaped, as for a
	// relative path.
	target, _, _ = strings.Cut(target, "#")
	if base, q, ok := strings.Cut(target, "?"); ok {
		target = string(appendQuery(append([]byte(base), '?'), q))
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		L.RaiseError("platform.api: %q is not a valid URL", target)
	}
	if !m.hostAllowed(u) {
		L.RaiseError("platform.api: %s is not an allowed host (Config.AllowedHosts)", u.Host)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(target)
	req.Header.SetMethod(method)
	if err := p.fillRequest(L, req, payload, opts); err != nil {
		L.RaiseError("platform.api.%s(%q): %s", strings.ToLower(method), target, err.Error())
	}
	call := "platform.api." + strings.ToLower(method) + "(" + u.Redacted() + ")"
	timeout, byLimit := m.cfg.HTTPTimeout, false
	deadline, limited := st.runDeadline()
	if limited {
		left := time.Until(deadline)
		if left <= 0 {
			st.outOfTime(L, call)
		}
		if left < timeout {
			timeout, byLimit = left, true
		}
	}
	err = m.httpClient.DoTimeout(req, resp, timeout)
	if limited && (st.pastDeadline(deadline) || byLimit && errors.Is(err, fasthttp.ErrTimeout)) {
		st.outOfTime(L, call)
	}
	if err != nil {
		status := 502
		if errors.Is(err, fasthttp.ErrTimeout) {
			status = 504
		}
		t := L.CreateTable(0, 4)
		t.RawSetString("status_code", lua.LNumber(status))
		t.RawSetString("headers", L.CreateTable(0, 0))
		t.RawSetString("content_type", lua.LString("application/json"))
		e := L.CreateTable(0, 2)
		e.RawSetString("code", lua.LNumber(status))
		e.RawSetString("message", lua.LString(fmt.Sprintf("platform.api: %s %s: %v", method, u.Redacted(), err)))
		content := L.CreateTable(0, 1)
		content.RawSetString("error", e)
		t.RawSetString("content", content)
		L.Push(t)
		return 1
	}
	L.Push(responseTable(L, resp, m.cfg.MaxJSONSize))
	return 1
}

// hostAllowed reports whether Config.AllowedHosts lists u's host: an entry is a host name (any
// port), a host:port, or *.domain for its subdomains.
func (m *Middleware) hostAllowed(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, a := range m.cfg.AllowedHosts {
		a = strings.ToLower(a)
		if h, p, err := net.SplitHostPort(a); err == nil {
			if h == host && p == port {
				return true
			}
			continue
		}
		if a == host || strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) {
			return true
		}
	}
	return false
}

// runDeadline is when the running script's time limit runs out; ok is false when it has none.
// A platform call is slow enough to arm a pending deadline, so that the watchdog stops what the
// call leads to.
func (st *state) runDeadline() (time.Time, bool) {
	st.arm()
	switch d := st.deadline.Load(); {
	case d == deadlineFired:
		return st.m.watchdog.start, true // passed already
	case d <= 0 || st.armedLimit >= noTimeLimit:
		return time.Time{}, false
	default:
		return st.m.watchdog.start.Add(time.Duration(d)), true
	}
}

// timeLeft is the time left in the running script's limit (see runDeadline).
func (st *state) timeLeft() (time.Duration, bool) {
	d, ok := st.runDeadline()
	if !ok {
		return 0, false
	}
	return time.Until(d), true
}

// pastDeadline reports whether the run's deadline has passed, by the clock or by the watchdog.
func (st *state) pastDeadline(deadline time.Time) bool {
	return st.deadline.Load() == deadlineFired || !time.Now().Before(deadline)
}

// outOfTime fails the running script with its time-limit error: its time ran out during (or
// before) a platform call. The watchdog may not have seen it yet (its clock is coarse), so the
// deadline is fired here: whatever the script does with the error (pcall), its run ends as a
// timeout, "exceeded its time limit of ...".
func (st *state) outOfTime(L *lua.LState, call string) {
	if d := st.deadline.Load(); d > 0 && st.deadline.CompareAndSwap(d, deadlineFired) {
		st.ctx.fire()
	}
	L.RaiseError("%s: the script's time limit of %v ran out", call, st.armedLimit)
}

// nested is a pooled RequestCtx for in-process platform.api calls.
type nested struct {
	ctx      fasthttp.RequestCtx
	conn     fakeConn
	deadline time.Time // Deadline(&ctx)
}

var nestedPool = sync.Pool{New: func() any { return &nested{} }}

func acquireNested() *nested { return nestedPool.Get().(*nested) }

func releaseNested(n *nested) {
	n.ctx.Request.Reset()
	n.ctx.Response.Reset()
	n.ctx.ResetUserValues()
	n.conn, n.deadline = fakeConn{}, time.Time{}
	nestedPool.Put(n)
}

// fakeConn stands for the caller's connection in RequestCtx made by the middleware: it gives
// the caller's addresses and refuses I/O.
type fakeConn struct{ remote, local net.Addr }

var errFakeConn = errors.New("fastlua: an in-process request has no connection")

func (c *fakeConn) Read([]byte) (int, error)         { return 0, errFakeConn }
func (c *fakeConn) Write([]byte) (int, error)        { return 0, errFakeConn }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return c.local }
func (c *fakeConn) RemoteAddr() net.Addr             { return c.remote }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*fakeConn)(nil)

// fasthttpLogger sends fasthttp's log lines for in-process requests to the Logger.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Info(fmt.Sprintf(format, args...))
}

// newStoreModule is platform.store: get, set, incr, delete on Config.Store. Keys and values
// are bounded here (Config.MaxStoreKey, Config.MaxStoreValue), before the store is called, so
// every Store is bounded; a broken bound, or a full store, is a limit error.
func (st *state) newStoreModule(L *lua.LState) *lua.LTable {
	m := st.m
	ctx := func() (context.Context, context.CancelFunc) {
		if _, inProcess := m.store.(*MemoryStore); inProcess {
			return context.Background(), func() {}
		}
		left, ok := st.timeLeft()
		if !ok {
			left = m.cfg.HTTPTimeout
		}
		return context.WithTimeout(context.Background(), left)
	}
	fail := func(L *lua.LState, op string, err error) {
		if d, limited := st.runDeadline(); limited && st.pastDeadline(d) {
			st.outOfTime(L, "platform.store."+op) // the store call used up the script's time
		}
		if errors.Is(err, ErrStoreFull) || errors.Is(err, ErrKeyTooLong) || errors.Is(err, ErrValueTooLarge) {
			st.raiseLimit(L, "platform.store.%s: %s", op, err.Error())
		}
		L.RaiseError("platform.store.%s: %s", op, err.Error())
	}
	keyArg := func(L *lua.LState, op string) string {
		key := L.CheckString(1)
		if len(key) > m.cfg.MaxStoreKey {
			fail(L, op, keyTooLong(len(key), m.cfg.MaxStoreKey, "Config.MaxStoreKey"))
		}
		return key
	}
	ttlArg := func(L *lua.LState, n int) time.Duration {
		secs := L.OptNumber(n, 0)
		return time.Duration(float64(secs) * float64(time.Second))
	}
	mod := L.CreateTable(0, 4)
	mod.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "get")
		c, cancel := ctx()
		defer cancel()
		v, ok, err := m.store.Get(c, key)
		if err != nil {
			fail(L, "get", err)
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		lv, err := fromStore(L, v)
		if err != nil {
			fail(L, "get", err)
		}
		L.Push(lv)
		return 1
	}))
	mod.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "set")
		v, err := toStore(&st.enc, L.CheckAny(2), m.cfg.MaxStoreValue)
		if errors.Is(err, ErrValueTooLarge) {
			fail(L, "set", err)
		}
		if err != nil {
			L.ArgError(2, err.Error())
		}
		c, cancel := ctx()
		defer cancel()
		if err := m.store.Set(c, key, v, ttlArg(L, 3)); err != nil {
			fail(L, "set", err)
		}
		return 0
	}))
	mod.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "incr")
		by := float64(L.OptNumber(2, 1))
		c, cancel := ctx()
		defer cancel()
		n, err := m.store.Incr(c, key, by, ttlArg(L, 3))
		if err != nil {
			fail(L, "incr", err)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	mod.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		key := keyArg(L, "delete")
		c, cancel := ctx()
		defer cancel()
		if err := m.store.Delete(c, key); err != nil {
			fail(L, "delete", err)
		}
		return 0
	}))
	return st.readOnly(L, "platform.store", mod)
}

// toStore converts a Lua value for a Store; a string or a table's JSON longer than maxValue is
// an ErrValueTooLarge (Config.MaxStoreValue).
func toStore(enc *bridge.Encoder, v lua.LValue, maxValue int) (any, error) {
	switch v := v.(type) {
	case lua.LString:
		if len(v) > maxValue {
			return nil, valueTooLarge(len(v), maxValue, "Config.MaxStoreValue")
		}
		return string(v), nil
	case lua.LNumber:
		return float64(v), nil
	case lua.LBool:
		return bool(v), nil
	case *lua.LTable:
		b, err := enc.Encode(v)
		if err != nil {
			return nil, err
		}
		if len(b) > maxValue {
			return nil, valueTooLarge(len(b), maxValue, "Config.MaxStoreValue")
		}
		return JSON(append([]byte(nil), b...)), nil
	}
	return nil, fmt.Errorf("a stored value must be a string, number, boolean or table, not %s", v.Type())
}

// fromStore converts a stored value back to Lua.
func fromStore(L *lua.LState, v any) (lua.LValue, error) {
	switch v := v.(type) {
	case string:
		return lua.LString(v), nil
	case float64:
		return lua.LNumber(v), nil
	case bool:
		return lua.LBool(v), nil
	case JSON:
		return bridge.DecodeJSON(L, v)
	}
	return lua.LNil, fmt.Errorf("the store returned a %T", v)
}

// newLogModule is log.debug|info|warn|error(message, fields): a record in Config.Logger with
// the script and event, and the fields table as attributes.
func (st *state) newLogModule(L *lua.LState) *lua.LTable {
	mod := L.CreateTable(0, 4)
	for name, level := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		mod.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			if !st.mayLog() {
				return 0
			}
			msg := st.logText(L.ToStringMeta(L.CheckAny(1)).String())
			attrs := st.logAttrs()
			if fields := L.OptTable(2, nil); fields != nil {
				fields.ForEach(func(k, v lua.LValue) {
					if st.logged >= st.m.cfg.MaxLogSize {
						return // the budget is spent: the remaining fields go
					}
					var val any
					switch v := v.(type) {
					case lua.LNumber:
						val = float64(v)
					case lua.LBool:
						val = bool(v)
					case *lua.LTable:
						if b, err := st.enc.Encode(v); err == nil {
							val = string(b)
						} else {
							val = v.String()
						}
					default:
						val = L.ToStringMeta(v).String()
					}
					if s, ok := val.(string); ok {
						val = st.logText(s)
					}
					attrs = append(attrs, slog.Any(st.logText(lua.LVAsString(k)), val))
				})
			}
			st.m.logger.Log(context.Background(), level, msg, attrs...)
			return 0
		}))
	}
	return st.readOnly(L, "log", mod)
}
