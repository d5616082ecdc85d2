// Package bridge holds the Lua-facing objects of fastlua: the event table a script sees
// (event.request, event.response, their headers and parameters) and the JSON codec behind
// payload and content.
//
// The objects are made once per Lua state (and nesting level) and bound to a request for the
// length of a phase, so a run allocates nothing for the objects themselves. They are userdata
// whose __index is a hidden table holding the sub-objects, so event.request.headers costs no Go
// call; fields that cost something to produce (a string copy of the method, the decoded body)
// come from a Go __index function, only when a script reads them. Writes go straight to
// fasthttp's request and response, except decoded JSON bodies, which are compared with the bytes
// they came from after each script and re-encoded only if they changed.
//
// This package is internal to fastlua in all but name: it exports only what the fastlua package
// and its subpackages call (binding an Event to a request, the JSON codec the json module, the
// store and platform.api share, the header and parameter setters, the client-address rules).
// Programs embedding fastlua use the fastlua package; nothing here is a stable API of its own.
package bridge

import (
	"fmt"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// Phase is the point of a request at which a script runs.
type Phase uint8

// The three phases of DreamFactory's event scripts.
const (
	PreProcess Phase = iota
	PostProcess
	Queued
)

var phaseNames = [...]string{"pre_process", "post_process", "queued"}

// String returns the phase as written in event names ("pre_process").
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", p)
}

// Info is what the middleware knows about an event beyond fasthttp's request and response.
// Its methods are called only when a script reads the matching field.
type Info interface {
	// Name is the concrete event name, as "db._table.customer.get.pre_process".
	Name() string
	// Service is the first path segment below the prefix.
	Service() string
	// Resource is the rest of the path, as "_table/customer".
	Resource() string
	// VisitParams calls f for each placeholder binding of the running script's pattern.
	VisitParams(f func(name, value string))
	// QueueID is the id of the queued event a queued script runs for ("" in other phases):
	// with a queue backend the delivery's id, the same for every delivery of one event.
	QueueID() string
	// Client is who sent the request (see Proxies.ClientOf).
	Client() Client
	// RequestID is the request's id (event.request.id): its X-Request-Id when that is sane,
	// else one made for it on first use; the same at every nesting level of one request.
	RequestID() string
}

// modificationError reports a change a script was not allowed to make, found after it ran
// (a decoded payload or content changed in place).
type modificationError struct {
	Field  string // "event.request.payload"
	Reason string
}

func (e *modificationError) Error() string {
	return e.Field + " was changed, but " + e.Reason
}

// Event is the event object of one Lua state at one nesting level.
type Event struct {
	ud    *lua.LUserData
	inner *lua.LTable // request, response, and the lazy fields once read
	req   *request
	resp  *response

	// Bound for a phase.
	info     Info
	phase    Phase
	request  *fasthttp.Request
	response *fasthttp.Response

	// Per script.
	readOnly bool
	cached   uint8 // lazy fields rawset into inner during this script

	client    Client // event.request.remote_addr, .scheme, .host, once read
	hasClient bool

	enc     Encoder
	intern  Interner
	lazy    *lazyState // event.response.content's lazy objects
	canon   canonicalKeys
	scratch []byte // the request line, when parameters are written (syncQuery)
}

const (
	cachedName uint8 = 1 << iota
	cachedParams
	cachedResource
)

// NewEvent builds the event object for L. It is reused for every request the state serves.
func NewEvent(L *lua.LState) *Event {
	e := &Event{}
	e.lazy = newLazyState(L, &e.intern)
	e.inner = L.CreateTable(0, 4)
	e.req = newRequest(L, e)
	e.resp = newResponse(L, e)
	e.inner.RawSetString("request", e.req.ud)
	e.inner.RawSetString("response", e.resp.ud)
	innerMeta := L.CreateTable(0, 1)
	innerMeta.RawSetString("__index", L.NewFunction(e.index))
	e.inner.Metatable = innerMeta

	e.ud = L.NewUserData()
	e.ud.Value = e
	e.ud.Metatable = ObjectMeta(L, "event", e.inner, L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("event.%s cannot be changed; change fields of event.request or event.response", L.CheckString(2))
		return 0
	}), []string{"name", "params", "resource", "queue_id", "request", "response"})
	return e
}

// ObjectMeta makes the metatable of a Lua-facing object (a userdata): reads look in inner (whose
// own metatable may compute fields), writes call newindex, pairs lists fields (read through the
// object), and the metatable is protected from getmetatable and setmetatable.
func ObjectMeta(L *lua.LState, name string, inner *lua.LTable, newindex *lua.LFunction, fields []string) *lua.LTable {
	mt := L.CreateTable(0, 4)
	mt.RawSetString("__index", inner)
	mt.RawSetString("__newindex", newindex)
	mt.RawSetString("__metatable", lua.LString(name))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		var v any
		if ud, ok := L.Get(1).(*lua.LUserData); ok {
			v = ud.Value
		}
		L.Push(lua.LString(render(name, v))) // the name and the content of the event's objects
		return 1
	}))
	mt.RawSetString("__pairs", fieldPairs(L, fields))
	return mt
}

// fieldPairs returns a __pairs metamethod that walks a fixed list of fields, reading each through
// the object's own __index (so lazy fields are produced) and skipping nil ones.
func fieldPairs(L *lua.LState, fields []string) *lua.LFunction {
	iter := L.NewFunction(func(L *lua.LState) int {
		obj := L.Get(1)
		i := 0
		if k, ok := L.Get(2).(lua.LString); ok {
			for i < len(fields) && fields[i] != string(k) {
				i++
			}
			i++
		}
		for ; i < len(fields); i++ {
			if v := L.GetField(obj, fields[i]); v != lua.LNil {
				L.Push(lua.LString(fields[i]))
				L.Push(v)
				return 2
			}
		}
		L.Push(lua.LNil)
		return 1
	})
	return L.NewFunction(func(L *lua.LState) int {
		L.Push(iter)
		L.Push(L.Get(1))
		L.Push(lua.LNil)
		return 3
	})
}

// SetMaxJSON bounds the JSON text the event encodes for a changed payload or content, and the
// text a compressed body decompresses to when a script reads it (0: no bound for the JSON
// text; defaultMaxDecoded for decompression).
func (e *Event) SetMaxJSON(n int) { e.enc.Max = n }

// SetJSONDecoding sets the memory budget of decoding a payload or content, as a multiple of its
// text's length (0: DefaultJSONExpansion; see memoryError), and the check that stops a long
// decode (see Interner.Check).
func (e *Event) SetJSONDecoding(expansion int, check func() error) {
	e.intern.Expansion, e.intern.Check = expansion, check
}

// Objects returns the event and its fixed sub-objects by their Lua path ("event",
// "event.request", "event.request.headers", ...). They never change for the life of the Event,
// so code may load them directly instead of looking them up.
func (e *Event) Objects() map[string]lua.LValue {
	return map[string]lua.LValue{
		"event":                    e.ud,
		"event.request":            e.req.ud,
		"event.response":           e.resp.ud,
		"event.request.headers":    e.req.headers.ud,
		"event.request.parameters": e.req.params.ud,
		"event.response.headers":   e.resp.headers.ud,
	}
}

// Value returns the Lua value a script sees as `event`.
func (e *Event) Value() lua.LValue { return e.ud }

// Bind attaches the event to a request for one phase. request and response are the objects the
// scripts read and change: the RequestCtx's own in pre_process and post_process, copies for
// queued scripts.
func (e *Event) Bind(info Info, phase Phase, request *fasthttp.Request, response *fasthttp.Response) {
	e.info, e.phase, e.request, e.response = info, phase, request, response
	e.client, e.hasClient = Client{}, false
	e.lazy.reset()
	e.req.bind()
	e.resp.bind()
}

// Unbind detaches the event from its request and drops every reference to it, so that nothing
// of one request reaches the next.
func (e *Event) Unbind() {
	e.clearCached()
	e.req.unbind()
	e.resp.unbind()
	e.lazy.reset() // every lazy object of the run is forgotten
	e.info, e.request, e.response = nil, nil, nil
	e.client, e.hasClient = Client{}, false
	e.readOnly = false
}

// BeginScript prepares the event for one script: readOnly is true for scripts registered with
// allow_event_modification = false.
func (e *Event) BeginScript(readOnly bool) {
	e.readOnly = readOnly
}

// EndScript finishes one script: decoded bodies the script changed in place are written back
// (or reported, when it was not allowed to change them), and per-script fields are dropped.
func (e *Event) EndScript() error {
	e.clearCached()
	if err := e.req.flush(); err != nil {
		return err
	}
	return e.resp.flush()
}

// AbortScript finishes a script that failed. Changes it made in place to decoded bodies are
// dropped (the bodies stay as they were); changes made through the objects (headers, status,
// assignments already written) stay.
func (e *Event) AbortScript() {
	e.clearCached()
	e.req.payload.reset()
	e.resp.content.reset()
}

func (e *Event) clearCached() {
	if e.cached == 0 {
		return
	}
	if e.cached&cachedName != 0 {
		e.inner.RawSetString("name", lua.LNil)
	}
	if e.cached&cachedParams != 0 {
		e.inner.RawSetString("params", lua.LNil)
	}
	if e.cached&cachedResource != 0 {
		e.inner.RawSetString("resource", lua.LNil)
	}
	e.cached = 0
}

// Answered reports whether a pre_process script answered the request (set the response's
// status or content), so the handler must be skipped.
func (e *Event) Answered() bool { return e.resp.answered }

// index computes the lazy fields of event; args are (inner, key).
func (e *Event) index(L *lua.LState) int {
	e.mustBeBound(L)
	key, _ := L.Get(2).(lua.LString)
	var v lua.LValue = lua.LNil
	switch key {
	case "name":
		v = lua.LString(e.info.Name())
		e.inner.RawSetString("name", v)
		e.cached |= cachedName
	case "resource":
		v = lua.LString(e.info.Resource())
		e.inner.RawSetString("resource", v)
		e.cached |= cachedResource
	case "queue_id":
		if id := e.info.QueueID(); id != "" {
			v = lua.LString(id)
		}
	case "params":
		tb := L.CreateTable(0, 2)
		e.info.VisitParams(func(name, value string) {
			tb.RawSetString(name, lua.LString(value))
		})
		v = tb
		e.inner.RawSetString("params", v)
		e.cached |= cachedParams
	default:
		unknownField(L, "event", eventFieldSet, L.Get(2))
	}
	L.Push(v)
	return 1
}

// clientInfo returns who sent the request, worked out on first use in a phase.
func (e *Event) clientInfo() Client {
	if !e.hasClient {
		if e.info != nil {
			e.client = e.info.Client()
		}
		e.hasClient = true
	}
	return e.client
}

func (e *Event) mustBeBound(L *lua.LState) {
	if e.request == nil {
		L.RaiseError("the event is only available while its script runs")
	}
}

// checkWrite raises a Lua error unless the running script may change obj.key (obj as
// "event.request"; key may be empty).
func (e *Event) checkWrite(L *lua.LState, obj, key string, requestSide bool) {
	e.mustBeBound(L)
	if e.readOnly {
		L.RaiseError("%s cannot be changed: the script has allow_event_modification = false", fieldName(obj, key))
	}
	if requestSide && e.phase == PostProcess {
		L.RaiseError("%s cannot be changed in post_process: the request has been handled", fieldName(obj, key))
	}
}

func fieldName(obj, key string) string {
	if key == "" {
		return obj
	}
	return obj + "." + key
}

// flushError is the error for an in-place change found after a script ran.
func (e *Event) flushError(field string, requestSide bool) error {
	if e.readOnly {
		return &modificationError{Field: field, Reason: "the script has allow_event_modification = false"}
	}
	if requestSide && e.phase == PostProcess {
		return &modificationError{Field: field, Reason: "the request cannot be changed in post_process"}
	}
	return nil
}
