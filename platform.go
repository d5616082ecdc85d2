package fastlua

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// The platform object.
//
//	platform.api.get|post|put|patch|delete(path, payload, options); call(verb, path, ...)
//	platform.config      the Go value of Config.PlatformConfig, read-only
//	platform.session     the Go value Config.Session built from the request, read-only; an
//	                     empty read-only map without one
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
	// noSession is platform.session when there is none (no Config.Session, or it returned
	// nil): an empty read-only map, so platform.session.user is nil, as in DreamFactory, where
	// scripts always get a session.
	noSession lua.LValue
}

func (st *state) newPlatform(lv *level) *platform {
	L := st.L
	p := &platform{lv: lv, noSession: st.readOnlyGo(L, "platform.session", map[string]any{})}
	api := L.CreateTable(0, 6)
	for _, method := range []string{"get", "post", "put", "patch", "delete"} {
		upper := strings.ToUpper(method)
		api.RawSetString(method, L.NewFunction(func(L *lua.LState) int { return p.call(L, upper) }))
	}
	// call(verb, path, payload, options): DreamFactory's generic form of the five.
	api.RawSetString("call", L.NewFunction(func(L *lua.LState) int {
		verb := strings.ToUpper(L.CheckString(1))
		switch verb {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			L.ArgError(1, "the verb must be GET, POST, PUT, PATCH or DELETE, not "+strconv.Quote(verb[:min(len(verb), 32)]))
		}
		L.Remove(1)
		return p.call(L, verb)
	}))
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
		if err := tableLike(v); err != nil {
			x.m.logger.Error("fastlua: Config.Session must return nil, a map, a struct or a pointer to one; platform.session is empty", slog.String("got", err.Error()))
		}
		sess := p.lv.st.readOnlyGo(L, "platform.session", v)
		if sess == lua.LNil {
			sess = p.noSession
		}
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
		bridge.MaterializeJSON(L, opts) // a part of a decoded body: its fields are read raw
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
	n := acquireNested()
	defer releaseNested(n)
	reqURI, path, err := m.apiTarget(n.uri[:0], target)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	st := p.lv.st
	deadline, limited := st.runDeadline()
	if limited && !time.Now().Before(deadline) {
		st.outOfTime(L, apiCallName(method, target))
	}
	n.uri = reqURI[:0] // its buffer, kept for the next call
	n.init(m, x.ctx.RemoteAddr(), x.ctx.LocalAddr())
	req := &n.ctx.Request
	// The caller's headers carry its credentials: the nested request shares its session.
	for k, v := range x.ctx.Request.Header.All() {
		if !bodyHeader(k) {
			req.Header.AddBytesKV(k, v)
		}
	}
	if t := m.cfg.Tracer; t != nil {
		x.injectSpan(t, &req.Header) // the calling script's span, not the client's traceparent
	}
	req.Header.SetMethod(method)
	req.SetRequestURIBytes(reqURI)
	if !bytes.Equal(req.URI().Path(), path) {
		// AppendPath and fasthttp's decoding disagree: fail closed rather than call a path
		// the checks above did not see.
		L.ArgError(1, fmt.Sprintf("the path %q cannot be sent as it is", path))
	}
	if err := p.fillRequest(L, req, payload, opts); err != nil {
		L.RaiseError("%s: %s", apiCallName(method, target), err.Error())
	}
	if limited {
		// The handler below cannot be interrupted: it reads the deadline (Deadline).
		n.deadline = deadline
		n.ctx.SetUserValue(deadlineKey{}, &n.deadline)
	}
	m.serveNested(&n.ctx, x)
	if limited && st.pastDeadline(deadline) {
		st.outOfTime(L, apiCallName(method, target))
	}
	if st.broken {
		// The nested run broke the state (a limit): the caller cannot go on with it.
		L.RaiseError("%s: the called script broke a limit of the Lua state", apiCallName(method, target))
	}
	L.Push(st.responseTable(L, &n.ctx.Response, m.cfg.MaxJSONSize))
	return 1
}

// apiCallName is how errors name a platform.api call: platform.api.get("path").
func apiCallName(method, target string) string {
	return "platform.api." + strings.ToLower(method) + "(" + strconv.Quote(target) + ")"
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
		// Written as event.request.headers and .parameters write them: a name given holds
		// exactly its value (no copy the caller sent is left), and every accessor of the
		// request agrees. The event's own objects are accepted as tables.
		if h := opts.RawGetString("headers"); h != lua.LNil {
			if err := bridge.SetHeaders(&req.Header, "options.headers", h); err != nil {
				return err
			}
		}
		if q := opts.RawGetString("parameters"); q != lua.LNil {
			if err := bridge.SetParameters(req, "options.parameters", q); err != nil {
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
