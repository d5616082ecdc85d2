package bridge

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// asTable returns v as a plain table: v itself when it is a table; for one of the event's
// key/value objects (event.request.headers, event.request.parameters, event.response.headers),
// a snapshot of what it holds now, names to values (header names in lower case). lists: a name
// with repeated values maps to the list of them, so that writing the snapshot elsewhere
// (options.headers, a returned response's headers) carries every value as it came; otherwise
// to the values joined with ",", as reading the object gives them. It is how every place that
// takes a table takes the objects too.
// AsTable returns v as a table Go code can walk with Next or ForEach: a table itself (a lazily
// decoded JSON object materialized first, so that its members are really there; call
// MaterializeJSON before it to raise the budget's error rather than get false), an event's
// key/value object (headers, parameters) as a snapshot of its values joined as reading gives
// them. Anything else is false. Go code that walks a table a script handed it goes through this.
func AsTable(v lua.LValue) (*lua.LTable, bool) { return asTable(v, false) }

func asTable(v lua.LValue, lists bool) (*lua.LTable, bool) {
	switch v := v.(type) {
	case *lua.LTable:
		if materializeValue(v) != nil {
			return nil, false
		}
		return v, true
	case *lua.LUserData:
		if o, ok := v.Value.(*kvObject); ok {
			if o.ev.request == nil {
				return nil, false
			}
			return o.snapshot(lists), true
		}
		return objectTable(v.Value)
	}
	return nil, false
}

// snapshot is asTable for a kvObject.
func (o *kvObject) snapshot(lists bool) *lua.LTable {
	snap := &lua.LTable{Metatable: lua.LNil}
	for k, v := range o.store().All() {
		name := string(k)
		if o.kind != kvQuery {
			name = strings.ToLower(name)
		}
		switch prev := snap.RawGetString(name).(type) {
		case lua.LString:
			if lists {
				l := &lua.LTable{Metatable: lua.LNil}
				l.Append(prev)
				l.Append(lua.LString(v))
				snap.RawSetString(name, l)
			} else {
				snap.RawSetString(name, lua.LString(string(prev)+","+string(v)))
			}
		case *lua.LTable:
			prev.Append(lua.LString(v))
		default:
			snap.RawSetString(name, lua.LString(v))
		}
	}
	return snap
}

// objectTable is asTable for event, event.request and event.response: a snapshot of their
// fields, the key/value objects among them as tables. A body is shown as far as it has been
// decoded already (payload, a JSON content) or, not decoded, as its text when it has no
// Content-Encoding: a snapshot decodes nothing.
func objectTable(v any) (*lua.LTable, bool) {
	switch o := v.(type) {
	case *Event:
		if o.request == nil {
			return nil, false
		}
		tb := &lua.LTable{Metatable: lua.LNil}
		if o.info != nil {
			tb.RawSetString("name", lua.LString(o.info.Name()))
			tb.RawSetString("resource", lua.LString(o.info.Resource()))
			params := &lua.LTable{Metatable: lua.LNil}
			o.info.VisitParams(func(name, value string) { params.RawSetString(name, lua.LString(value)) })
			tb.RawSetString("params", params)
		}
		req, _ := objectTable(o.req)
		resp, _ := objectTable(o.resp)
		tb.RawSetString("request", req)
		tb.RawSetString("response", resp)
		return tb, true
	case *request:
		e := o.ev
		if e.request == nil {
			return nil, false
		}
		req := e.request
		tb := &lua.LTable{Metatable: lua.LNil}
		tb.RawSetString("method", lua.LString(req.Header.Method()))
		tb.RawSetString("uri", lua.LString(req.RequestURI()))
		tb.RawSetString("path", lua.LString(req.URI().Path()))
		if e.info != nil {
			tb.RawSetString("service", lua.LString(e.info.Service()))
			tb.RawSetString("id", lua.LString(e.info.RequestID()))
		}
		if ct := req.Header.ContentType(); len(ct) > 0 {
			tb.RawSetString("content_type", lua.LString(ct))
		}
		for _, k := range []string{"remote_addr", "scheme", "host"} {
			tb.RawSetString(k, clientField(e.clientInfo(), k))
		}
		tb.RawSetString("headers", o.headers.snapshot(false))
		tb.RawSetString("parameters", o.params.snapshot(false))
		if o.payload.loaded || o.payload.assigned {
			tb.RawSetString("payload", o.payload.value)
		} else if len(req.Header.ContentEncoding()) == 0 && len(req.Body()) > 0 {
			tb.RawSetString("content", lua.LString(req.Body()))
		}
		return tb, true
	case *response:
		e := o.ev
		if e.request == nil {
			return nil, false
		}
		resp := e.response
		tb := &lua.LTable{Metatable: lua.LNil}
		if o.produced() || o.statusSet {
			tb.RawSetString("status_code", lua.LNumber(resp.StatusCode()))
		}
		if ct := resp.Header.ContentType(); len(ct) > 0 && (o.produced() || o.contentSet) {
			tb.RawSetString("content_type", lua.LString(ct))
		}
		tb.RawSetString("headers", o.headers.snapshot(false))
		switch {
		case o.content.loaded || o.content.assigned:
			tb.RawSetString("content", o.content.value)
		case (o.produced() || o.contentSet) && len(resp.Header.ContentEncoding()) == 0 && len(resp.Body()) > 0:
			tb.RawSetString("content", lua.LString(resp.Body()))
		}
		return tb, true
	}
	return nil, false
}

// maxRendered bounds what print and tostring show of an event object.
const maxRendered = 1024

// render is the __tostring of the event objects: their name and a compact rendering of their
// content ("event.request.headers {accept = "*/*", host = "localhost"}"), cut at maxRendered
// bytes. Outside a run it is the name alone.
func render(name string, v any) string {
	var tb *lua.LTable
	switch o := v.(type) {
	case *kvObject:
		if o.ev.request != nil {
			tb = o.snapshot(false)
		}
	default:
		tb, _ = objectTable(v)
	}
	if tb == nil {
		return name
	}
	b := append([]byte(name), ' ')
	b = renderValue(b, tb, 0)
	if len(b) > maxRendered {
		b = append(b[:maxRendered], "..."...)
	}
	return string(b)
}

// renderValue appends a compact Lua-like form of v to b, stopping past maxRendered.
func renderValue(b []byte, v lua.LValue, depth int) []byte {
	switch v := v.(type) {
	case lua.LString:
		if len(v) > maxRendered {
			v = v[:maxRendered]
		}
		return strconv.AppendQuote(b, string(v))
	case *lua.LTable:
		if depth >= 8 || materializeValue(v) != nil {
			return append(b, "{...}"...)
		}
		b = append(b, '{')
		first := true
		for k, val := v.Next(lua.LNil); k != lua.LNil && len(b) <= maxRendered; k, val = v.Next(k) {
			if !first {
				b = append(b, ", "...)
			}
			first = false
			if ks, ok := k.(lua.LString); ok && isIdent(string(ks)) {
				b = append(b, ks...)
			} else {
				b = append(b, '[')
				b = renderValue(b, k, depth+1)
				b = append(b, ']')
			}
			b = append(b, " = "...)
			b = renderValue(b, val, depth+1)
		}
		return append(b, '}')
	case *lua.LUserData:
		if v == Null {
			return append(b, "json.null"...)
		}
		if tb, ok := asTable(v, false); ok {
			return renderValue(b, tb, depth)
		}
		return append(b, "userdata"...)
	case lua.LNumber, lua.LBool, *lua.LNilType:
		return append(b, v.String()...)
	}
	return append(b, v.Type().String()...)
}

// isIdent reports whether s can be written as a bare key (name = ...).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// NextFunction returns next() for scripts: base (Lua's next) for tables, and for the event
// objects the next entry of their snapshot (see asTable), so next(event.request.headers) works
// where it would on a table.
func NextFunction(L *lua.LState, base *lua.LFunction) *lua.LFunction {
	return L.NewFunction(func(L *lua.LState) int {
		MaterializeJSON(L, L.Get(1)) // a lazy object of a decoded body
		if ud, ok := L.Get(1).(*lua.LUserData); ok {
			if tb, ok := asTable(ud, false); ok {
				k, v := tb.Next(L.Get(2))
				if k == lua.LNil {
					L.Push(lua.LNil)
					return 1
				}
				L.Push(k)
				L.Push(v)
				return 2
			}
		}
		n := L.GetTop()
		L.Insert(base, 1)
		L.Call(n, lua.MultRet)
		return L.GetTop()
	})
}

// encodeObject is the json encoder's hook for userdata: an event object encodes as its
// snapshot (see asTable, values joined as reading them gives). ok is false for other values.
func (e *Encoder) encodeObject(dst []byte, v *lua.LUserData, depth int) (out []byte, ok bool, err error) {
	tb, ok := asTable(v, false)
	if !ok {
		return dst, false, nil
	}
	out, err = e.append(dst, tb, depth)
	return out, true, err
}
