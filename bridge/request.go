package bridge

import (
	"bytes"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// body is a JSON body as a script sees it: decoded on first read, compared with the text it
// came from (the body, or the body decoded from its Content-Encoding) after each script,
// re-encoded only when it changed.
type body struct {
	value    lua.LValue // the decoded value (or what a script assigned)
	loaded   bool       // value holds the decoded body
	assigned bool       // a script assigned value; it must be encoded
	lazy     bool       // value came from lazyState.load (event.response.content)
	// canonical is what value encodes to when the text had a duplicate key, so that value
	// does not describe the text: changes are then found against it, not against the text.
	canonical []byte
}

func (b *body) reset() { *b = body{} }

// load decodes text into b; a text that is not JSON leaves b nil, a decode that fails for
// another reason (its memory budget, the run's time limit) fails the script (field names what
// it read).
func (b *body) load(L *lua.LState, in *Interner, text []byte, field string) {
	*b = body{value: lua.LNil, loaded: true}
	v, dup, err := decodeJSON(L, text, in)
	if err != nil {
		if _, ok := err.(*SyntaxError); !ok {
			L.RaiseError("%s: %s", field, err.Error())
		}
		return
	}
	b.value = v
	if dup {
		// Without the size limit, which is for bodies a script changed: the normal form is a
		// small multiple of the text at most (numbers written out, U+FFFD for invalid bytes).
		var unbounded Encoder
		if c, err := unbounded.Encode(v); err == nil {
			b.canonical = c
		}
	}
}

// readDup reports whether the script read a copy of a key the text has twice (see
// lazyState.readDup): the body must then be written in its normal form, with the copy read.
func (b *body) readDup(e *Event, text []byte) bool {
	if b.lazy {
		return e.lazy.readDup(text)
	}
	return b.canonical != nil
}

// changed reports whether the decoded value no longer describes text.
func (b *body) changed(text []byte) bool {
	if _, isTable := b.value.(*lua.LTable); !isTable {
		return false // strings, numbers, booleans and null cannot be changed in place
	}
	if b.canonical != nil {
		return !equalJSON(b.value, b.canonical)
	}
	return !equalJSON(b.value, text)
}

// request is event.request.
type request struct {
	ev      *Event
	ud      *lua.LUserData
	inner   *lua.LTable
	headers *kvObject
	params  *kvObject
	payload body
	plain   plainBody // the body decoded from its Content-Encoding, once read
}

var requestFields = []string{"method", "uri", "path", "service", "id", "content_type", "remote_addr", "scheme", "host", "headers", "parameters", "payload", "content"}

func newRequest(L *lua.LState, e *Event) *request {
	r := &request{ev: e}
	r.headers = newKV(L, e, kvRequestHeaders)
	r.params = newKV(L, e, kvQuery)
	r.inner = L.CreateTable(0, 2)
	r.inner.RawSetString("headers", r.headers.ud)
	r.inner.RawSetString("parameters", r.params.ud)
	innerMeta := L.CreateTable(0, 1)
	innerMeta.RawSetString("__index", L.NewFunction(r.index))
	r.inner.Metatable = innerMeta
	r.ud = L.NewUserData()
	r.ud.Value = r
	r.ud.Metatable = ObjectMeta(L, "event.request", r.inner, L.NewFunction(r.newindex), requestFields)
	return r
}

func (r *request) bind()   { r.payload.reset(); r.plain = plainBody{} }
func (r *request) unbind() { r.payload.reset(); r.plain = plainBody{} }

// Common methods as preallocated Lua values, so reading the method allocates nothing.
var methodValues = func() map[string]lua.LValue {
	m := map[string]lua.LValue{}
	for _, s := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
		m[s] = lua.LString(s)
	}
	return m
}()

// index computes the lazy fields of event.request; args are (inner, key).
func (r *request) index(L *lua.LState) int {
	e := r.ev
	e.mustBeBound(L)
	req := e.request
	key, _ := L.Get(2).(lua.LString)
	var v lua.LValue = lua.LNil
	switch key {
	case "method":
		m := req.Header.Method()
		if mv, ok := methodValues[string(m)]; ok {
			v = mv
		} else {
			v = lua.LString(m)
		}
	case "uri":
		v = lua.LString(req.RequestURI())
	case "path":
		v = lua.LString(req.URI().Path())
	case "service":
		v = lua.LString(e.info.Service())
	case "id":
		v = lua.LString(e.info.RequestID())
	case "content_type":
		if ct := req.Header.ContentType(); len(ct) > 0 {
			v = lua.LString(ct)
		}
	case "remote_addr", "scheme", "host":
		v = clientField(e.clientInfo(), string(key))
	case "payload":
		v = r.payloadValue(L)
	case "content":
		// A payload the script changed is written first, so content shows it.
		if err := r.flush(); err != nil {
			L.RaiseError("%s", err.Error())
		}
		v = lua.LString(r.text(L, "event.request.content"))
	default:
		unknownField(L, "event.request", requestFieldSet, L.Get(2))
	}
	L.Push(v)
	return 1
}

func (r *request) payloadValue(L *lua.LState) lua.LValue {
	if r.payload.loaded || r.payload.assigned {
		return r.payload.value
	}
	r.payload = body{value: lua.LNil, loaded: true}
	if ct := r.ev.request.Header.ContentType(); mayBeJSON(ct) {
		if text := r.text(L, "event.request.payload"); sniffJSON(ct, text) {
			// Decoded as far as the script reads it (jsonlazy.go).
			v, err := r.ev.lazy.load(text, "event.request.payload")
			switch err.(type) {
			case nil:
				r.payload = body{value: v, loaded: true, lazy: true}
			case *SyntaxError: // not JSON: nil
			default:
				if err != errLazyDocs {
					L.RaiseError("event.request.payload: %s", err.Error())
				}
				r.payload.load(L, &r.ev.intern, text, "event.request.payload")
			}
		}
	}
	return r.payload.value
}

// text returns the request body as scripts see it, decoded from its Content-Encoding; field
// names what the script read, for the error.
func (r *request) text(L *lua.LState, field string) []byte {
	req := r.ev.request
	text, err := r.plain.get(req, req.Header.ContentEncoding(), req.Body(), maxDecoded(r.ev.enc.Max))
	if err != nil {
		L.RaiseError("%s: %s", field, err.Error())
	}
	return text
}

// setText makes the request body text as scripts see it: compressed again with the request's
// Content-Encoding, or without one (see encoded). owned: text is not reused by the caller.
func (r *request) setText(text []byte, owned bool) {
	r.ev.lazy.detach() // the lazy objects of the old text keep a copy of it
	req := r.ev.request
	b, drop := encoded(&r.plain, req.Header.ContentEncoding(), text, owned)
	if drop {
		req.Header.Del(fasthttp.HeaderContentEncoding)
	}
	switch {
	case len(b) == 0:
		req.ResetBody()
	case r.plain.decoded:
		req.SetBodyRaw(b) // a new slice, from the compressor
	default:
		req.SetBody(b)
	}
	req.Header.SetContentLength(len(b))
}

// newindex handles writes to event.request; args are (ud, key, value).
func (r *request) newindex(L *lua.LState) int {
	e := r.ev
	key := L.CheckString(2)
	val := L.Get(3)
	switch key {
	case "method":
		e.checkWrite(L, "event.request", key, true)
		m, ok := val.(lua.LString)
		if !ok || !isToken(string(m)) || len(m) > 32 {
			L.RaiseError("event.request.method must be an HTTP method name (a token of at most 32 bytes), got %s", describe(val))
		}
		e.request.Header.SetMethod(string(bytes.ToUpper([]byte(m))))
	case "payload":
		e.checkWrite(L, "event.request", key, true)
		switch val.(type) {
		case *lua.LTable, *lua.LNilType, *lua.LUserData, lua.LString, lua.LNumber, lua.LBool:
		default:
			L.RaiseError("event.request.payload must be a table or a JSON value, got %s", describe(val))
		}
		r.payload = body{value: val, assigned: true}
	case "content":
		e.checkWrite(L, "event.request", key, true)
		s, ok := val.(lua.LString)
		if !ok && val != lua.LNil {
			L.RaiseError("event.request.content must be a string, got %s", describe(val))
		}
		r.setText(stringBytes(string(s)), true)
		r.payload.reset()
	case "headers":
		e.checkWrite(L, "event.request", key, true)
		if err := r.headers.replace(val); err != nil {
			L.RaiseError("%s", err.Error())
		}
	case "parameters":
		e.checkWrite(L, "event.request", key, true)
		if err := r.params.replace(val); err != nil {
			L.RaiseError("%s", err.Error())
		}
	case "uri", "path", "service", "content_type", "remote_addr", "scheme", "host":
		e.mustBeBound(L)
		L.RaiseError("event.request.%s is read-only", key)
	default:
		e.mustBeBound(L)
		L.RaiseError("%s", unknownFieldMessage("event.request", requestFieldSet, key))
	}
	return 0
}

// clientField is one field of event.request's client (remote_addr, scheme, host); nil when
// unknown.
func clientField(c Client, key string) lua.LValue {
	var s string
	switch key {
	case "remote_addr":
		s = c.Addr
	case "scheme":
		s = c.Scheme
	case "host":
		s = c.Host
	}
	if s == "" {
		return lua.LNil
	}
	return lua.LString(s)
}

// flush writes a changed payload back to the request body.
func (r *request) flush() error {
	e := r.ev
	p := &r.payload
	normal := false // only written in normal form: Config.MaxJSONSize is for what scripts make
	if !p.assigned {
		if !p.loaded {
			return nil
		}
		// The text it was decoded from: nothing is decoded again here.
		src := r.plain.source(e.request.Body())
		if p.lazy && e.lazy.sameLazy(p.value, src) || !p.lazy && !p.changed(src) {
			// Unchanged; written without the duplicate keys the script read (not a change of
			// the script's: also when read-only), while the request is still to be sent.
			if !p.readDup(e, src) || e.phase == PostProcess {
				return nil
			}
			normal = true
		} else if err := e.flushError("event.request.payload", true); err != nil {
			return err
		}
	}
	req := e.request
	if p.value == lua.LNil {
		r.setText(nil, true)
	} else {
		// What the script did not touch is copied from the text it was decoded from.
		e.enc.verbatim = true
		limit := e.enc.Max
		if normal {
			e.enc.Max = 0
		}
		b, err := e.enc.Encode(p.value)
		e.enc.verbatim, e.enc.Max = false, limit
		if err != nil {
			return &modificationError{Field: "event.request.payload", Reason: err.Error()}
		}
		r.setText(b, false)
		if !isJSONType(req.Header.ContentType()) {
			req.Header.SetContentType("application/json")
		}
	}
	// The encoding may differ from the table (invalid UTF-8 replaced, number keys as strings):
	// the next read decodes the new body.
	p.reset()
	return nil
}

// LooksJSON reports whether a body (as scripts see it: decoded from its Content-Encoding)
// with the given Content-Type is JSON, by the rules event.request.payload uses (see isJSON).
func LooksJSON(contentType, body []byte) bool { return isJSON(contentType, body) }

// isJSON reports whether a body is JSON: its content type says so, or the content type is one
// clients send by default (none, form-urlencoded as curl -d does, text/plain) and the body starts
// like a JSON object or array (which a form body never does).
func isJSON(contentType, b []byte) bool { return mayBeJSON(contentType) && sniffJSON(contentType, b) }

// mayBeJSON reports whether a body of this content type can be JSON (see isJSON), before its
// text is looked at.
func mayBeJSON(contentType []byte) bool {
	return len(contentType) == 0 || isJSONType(contentType) ||
		hasMediaType(contentType, "application/x-www-form-urlencoded") || hasMediaType(contentType, "text/plain")
}

// sniffJSON is isJSON for a content type mayBeJSON accepted.
func sniffJSON(contentType, b []byte) bool {
	if isJSONType(contentType) {
		return true
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// hasMediaType reports whether a Content-Type value is the media type mt (parameters ignored).
func hasMediaType(ct []byte, mt string) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte(mt))
}

// isJSONType reports whether a media type is application/json or ends in +json.
func isJSONType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if len(ct) >= 5 && bytes.EqualFold(ct[len(ct)-5:], []byte("+json")) {
		return true
	}
	return hasMediaType(ct, "application/json")
}

// tokenChars marks the bytes allowed in an HTTP token (RFC 9110 5.6.2).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isToken reports whether s is a non-empty HTTP token (method names, header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// describe names a Lua value's type for error messages.
func describe(v lua.LValue) string {
	if v == lua.LNil {
		return "nil"
	}
	return "a " + v.Type().String()
}
