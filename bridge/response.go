package bridge

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// response is event.response.
//
// In pre_process the response has not been produced yet: reads return only what scripts set,
// and setting status_code or content answers the request (the handler is skipped). In
// post_process and queued scripts it is the handler's response.
type response struct {
	ev       *Event
	ud       *lua.LUserData
	inner    *lua.LTable
	headers  *kvObject
	content  body
	plain    plainBody // the body decoded from its Content-Encoding, once read
	answered bool      // a pre_process script set status_code or content
	// In pre_process, what scripts set.
	statusSet, contentSet bool
}

var responseFields = []string{"status_code", "content_type", "headers", "content"}

func newResponse(L *lua.LState, e *Event) *response {
	r := &response{ev: e}
	r.headers = newKV(L, e, kvResponseHeaders)
	r.inner = L.CreateTable(0, 1)
	r.inner.RawSetString("headers", r.headers.ud)
	innerMeta := L.CreateTable(0, 1)
	innerMeta.RawSetString("__index", L.NewFunction(r.index))
	r.inner.Metatable = innerMeta
	r.ud = L.NewUserData()
	r.ud.Value = r
	r.ud.Metatable = ObjectMeta(L, "event.response", r.inner, L.NewFunction(r.newindex), responseFields)
	return r
}

func (r *response) bind() {
	r.content.reset()
	r.plain = plainBody{}
	r.answered, r.statusSet, r.contentSet = false, false, false
}

func (r *response) unbind() { r.content.reset(); r.plain = plainBody{} }

// produced reports whether the response holds something a script may read.
func (r *response) produced() bool { return r.ev.phase != PreProcess }

func (r *response) index(L *lua.LState) int {
	e := r.ev
	e.mustBeBound(L)
	resp := e.response
	key, _ := L.Get(2).(lua.LString)
	var v lua.LValue = lua.LNil
	switch key {
	case "status_code":
		if r.produced() || r.statusSet {
			v = lua.LNumber(resp.StatusCode())
		}
	case "content_type":
		if ct := resp.Header.ContentType(); len(ct) > 0 && (r.produced() || r.contentSet) {
			v = lua.LString(ct)
		}
	case "content":
		if r.produced() || r.contentSet {
			v = r.contentValue(L)
		}
	default:
		unknownField(L, "event.response", responseFieldSet, L.Get(2))
	}
	L.Push(v)
	return 1
}

func (r *response) contentValue(L *lua.LState) lua.LValue {
	if r.content.loaded || r.content.assigned {
		return r.content.value
	}
	resp := r.ev.response
	text, err := r.plain.get(resp, resp.Header.ContentEncoding(), resp.Body(), maxDecoded(r.ev.enc.Max))
	if err != nil {
		L.RaiseError("event.response.content: %s", err.Error())
	}
	if isJSON(resp.Header.ContentType(), text) {
		// Decoded as far as the script reads it (jsonlazy.go).
		v, err := r.ev.lazy.load(text, "event.response.content")
		if err == nil {
			r.content = body{value: v, loaded: true, lazy: true}
			return v
		}
		if err == errLazyDocs {
			if r.content.load(L, &r.ev.intern, text, "event.response.content"); r.content.value != lua.LNil {
				return r.content.value
			}
			err = nil // not JSON after all: the string
		}
		if _, ok := err.(*SyntaxError); !ok && err != nil {
			L.RaiseError("event.response.content: %s", err.Error())
		}
		r.content.reset()
	}
	return lua.LString(text)
}

// setText makes the response body text as scripts see it: compressed again with the
// response's Content-Encoding, or without one (see encoded). owned: text is not reused by the
// caller.
func (r *response) setText(text []byte, owned bool) {
	r.ev.lazy.detach() // the lazy objects of the old text keep a copy of it
	resp := r.ev.response
	b, drop := encoded(&r.plain, resp.Header.ContentEncoding(), text, owned)
	if drop {
		resp.Header.Del(fasthttp.HeaderContentEncoding)
	}
	switch {
	case len(b) == 0:
		resp.ResetBody()
	case r.plain.decoded:
		resp.SetBodyRaw(b) // a new slice, from the compressor
	default:
		resp.SetBody(b)
	}
}

func (r *response) newindex(L *lua.LState) int {
	key := L.CheckString(2)
	val := L.Get(3)
	r.ev.checkWrite(L, "event.response", key, false)
	var err error
	switch key {
	case "status_code":
		err = r.setStatus(val)
	case "content":
		err = r.setContent(val)
	case "content_type":
		err = r.setContentType(val)
	case "headers":
		err = r.headers.replace(val)
	default:
		err = errors.New(unknownFieldMessage("event.response", responseFieldSet, key))
	}
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return 0
}

func (r *response) setStatus(v lua.LValue) error {
	n, ok := v.(lua.LNumber)
	if !ok || n != lua.LNumber(int(n)) || n < 100 || n > 599 {
		return fmt.Errorf("event.response.status_code must be a number from 100 to 599, got %s", describeValue(v))
	}
	r.ev.response.SetStatusCode(int(n))
	r.statusSet = true
	r.markAnswered()
	return nil
}

func (r *response) setContent(v lua.LValue) error {
	switch v := v.(type) {
	case lua.LString:
		r.setText(stringBytes(string(v)), true)
		r.content.reset()
	case *lua.LNilType:
		r.setText(nil, true)
		r.content.reset()
	case *lua.LTable, *lua.LUserData, lua.LNumber, lua.LBool:
		r.content = body{value: v, assigned: true}
	default:
		return fmt.Errorf("event.response.content must be a table or a string, got %s", describe(v))
	}
	r.contentSet = true
	r.markAnswered()
	return nil
}

func (r *response) setContentType(v lua.LValue) error {
	s, ok := v.(lua.LString)
	if !ok || !validHeaderValue(string(s)) {
		return fmt.Errorf("event.response.content_type must be a media type string, got %s", describeValue(v))
	}
	r.ev.response.Header.SetContentType(string(s))
	return nil
}

func (r *response) markAnswered() {
	if r.ev.phase == PreProcess {
		r.answered = true
	}
}

// flush encodes a content table a script assigned or changed in place.
func (r *response) flush() error {
	e := r.ev
	c := &r.content
	normal := false // only written in normal form (see request.flush)
	if !c.assigned {
		if !c.loaded {
			return nil
		}
		// The text it was decoded from: nothing is decoded again here.
		src := r.plain.source(e.response.Body())
		if c.lazy && e.lazy.sameLazy(c.value, src) || !c.lazy && !c.changed(src) {
			// Unchanged; written without the duplicate keys the script read (see
			// request.flush).
			if !c.readDup(e, src) {
				return nil
			}
			normal = true
		} else if err := e.flushError("event.response.content", false); err != nil {
			return err
		}
	}
	// What the script did not touch is copied from the text it was decoded from.
	e.enc.verbatim = true
	limit := e.enc.Max
	if normal {
		e.enc.Max = 0
	}
	b, err := e.enc.Encode(c.value)
	e.enc.verbatim, e.enc.Max = false, limit
	if err != nil {
		return &modificationError{Field: "event.response.content", Reason: err.Error()}
	}
	r.setText(b, false)
	resp := e.response
	if !isJSONType(resp.Header.ContentType()) {
		resp.Header.SetContentType("application/json")
	}
	c.reset() // the next read decodes the new body (see request.flush)
	return nil
}

// ApplyReturn applies the value a script returned. A table with status_code or content is the
// response (headers and content_type are taken too); any other table is sent as JSON content
// with status 200; nil changes nothing. Other values are an error.
func (e *Event) ApplyReturn(v lua.LValue) error {
	if _, isNil := v.(*lua.LNilType); isNil { // not v == lua.LNil: an interface comparison is a call
		return nil
	}
	tb, ok := v.(*lua.LTable)
	if !ok {
		return fmt.Errorf("a script may return a table (the response) or nothing, not %s", describe(v))
	}
	if e.readOnly {
		return &modificationError{Field: "event.response", Reason: "the script has allow_event_modification = false (it returned a table)"}
	}
	// A lazily decoded JSON object (the body, or a part of it) is read as the table it is.
	if err := materializeValue(tb); err != nil {
		return err
	}
	r := e.resp
	status, content := tb.RawGetString("status_code"), tb.RawGetString("content")
	if status == lua.LNil && content == lua.LNil {
		if err := errors.Join(r.setStatus(lua.LNumber(200)), r.setContent(tb)); err != nil {
			return err
		}
		return r.flush()
	}
	if status == lua.LNil {
		status = lua.LNumber(200)
	}
	if err := r.setStatus(status); err != nil {
		return err
	}
	if h := tb.RawGetString("headers"); h != lua.LNil {
		if err := r.headers.replace(h); err != nil {
			return err
		}
	}
	if ct := tb.RawGetString("content_type"); ct != lua.LNil {
		if err := r.setContentType(ct); err != nil {
			return err
		}
	}
	if err := r.setContent(content); err != nil {
		return err
	}
	return r.flush()
}

// describeValue is describe with short strings and numbers shown.
func describeValue(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LNumber:
		return "the number " + v.String()
	case lua.LString:
		if len(v) <= 40 {
			return fmt.Sprintf("the string %q", string(v))
		}
	}
	return describe(v)
}
