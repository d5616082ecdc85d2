package fastlua

import (
	"reflect"
	"strings"

	"github.com/fastlua/fastlua/bridge"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// The result of a platform.api call is a plain Lua table {status_code, headers, content,
// content_type}. Building one costs gopher-lua two or three allocations a key (the key map, the
// key list, each key boxed), most of a call's allocations. A value of a run cannot outlive it
// (the sandbox keeps nothing of a run: its globals are replaced, the event objects drop what a
// script assigned, everything else is read-only; a request would otherwise see the last one's
// data), so a state keeps the result and headers tables it handed out and fills them again in
// its next top-level run: a key set again on a table that had it allocates nothing. A table a
// script reshaped (a metatable, an integer or non-string key, more keys than a response gives)
// is dropped, not reused, so nothing a script did carries over and a table cannot grow without
// bound.

// apiResults are a state's platform.api result tables.
type apiResults struct {
	tabs []apiResult // [0:used) handed out in this top-level run; the rest free
	used int
}

type apiResult struct{ t, h, c *lua.LTable } // the result, its headers, its content when an object

const (
	maxPooledResults = 8  // result tables a state keeps (a run making more allocates the rest)
	maxResultHeaders = 32 // header keys a kept headers table may have had, live or deleted
	maxResultContent = 32 // keys a kept content table may have had
)

// reset makes every table free again; called when a top-level run starts, when nothing holds
// the tables of the last one.
func (r *apiResults) reset() { r.used = 0 }

// take returns an empty result table, headers table and content table (which the caller
// fills only when the content is an object).
func (r *apiResults) take(L *lua.LState) (t, h, c *lua.LTable) {
	for r.used < len(r.tabs) {
		e := r.tabs[r.used]
		if reusable(e.t, 4) && reusable(e.h, maxResultHeaders) && reusable(e.c, maxResultContent) {
			clearStrings(e.h) // the result table's four keys are all set again by the caller
			clearStrings(e.c)
			r.used++
			return e.t, e.h, e.c
		}
		last := len(r.tabs) - 1
		r.tabs[r.used] = r.tabs[last]
		r.tabs = r.tabs[:last]
	}
	t, h, c = L.CreateTable(0, 4), L.CreateTable(0, 8), L.CreateTable(0, 4)
	if len(r.tabs) < maxPooledResults && tableShapeKnown {
		r.tabs = append(r.tabs, apiResult{t, h, c})
		r.used++
	}
	return t, h, c
}

// gopher-lua's LTable keeps its parts in unexported fields; their lengths say whether a script
// reshaped a table. When a version of gopher-lua names them otherwise, nothing is reused.
var (
	ltArray, ltDict, ltKeys = ltField("array"), ltField("dict"), ltField("keys")
	tableShapeKnown         = ltArray >= 0 && ltDict >= 0 && ltKeys >= 0
)

func ltField(name string) int {
	f, ok := reflect.TypeFor[lua.LTable]().FieldByName(name)
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Slice && f.Type.Kind() != reflect.Map {
		return -1
	}
	return f.Index[0]
}

// reusable reports whether t has only string keys, at most maxKeys of them ever set, and no
// metatable.
func reusable(t *lua.LTable, maxKeys int) bool {
	if t.Metatable != lua.LNil {
		return false
	}
	v := reflect.ValueOf(t).Elem()
	return v.Field(ltArray).Len() == 0 && v.Field(ltDict).Len() == 0 && v.Field(ltKeys).Len() <= maxKeys
}

// clearStrings removes every key of t, whose keys are all strings.
func clearStrings(t *lua.LTable) {
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		t.RawSetString(string(k.(lua.LString)), lua.LNil) // Next goes on from a deleted key
	}
}

// responseTable converts a response to {status_code, headers, content, content_type}. The
// content is the body decoded from its Content-Encoding, as event.response.content is (at most
// maxBody bytes: Config.MaxJSONSize; past it, or when the body cannot be decoded, the script
// fails), and then the headers describe it: without Content-Encoding and Content-Length. JSON
// content is decoded through the state's Interner (its memory budget, Config.MaxJSONExpansion).
func (st *state) responseTable(L *lua.LState, resp *fasthttp.Response, maxBody int) *lua.LTable {
	in := &st.json
	body, decoded, err := bridge.ResponseText(resp, maxBody)
	if err != nil {
		L.RaiseError("platform.api: the response: %s", err.Error())
	}
	t, h, c := st.results.take(L)
	t.RawSetString("status_code", bridge.Number(resp.StatusCode()))
	var lower [64]byte
	for k, v := range resp.Header.All() {
		var name string
		if len(k) <= len(lower) {
			name = in.Key(asciiLower(lower[:0], k))
		} else {
			name = strings.ToLower(string(k))
		}
		if decoded && (name == "content-encoding" || name == "content-length") {
			continue
		}
		if prev, ok := h.RawGetString(name).(lua.LString); ok {
			h.RawSetString(name, lua.LString(string(prev)+","+string(v)))
		} else {
			h.RawSetString(name, in.Value(v))
		}
	}
	t.RawSetString("headers", h)
	ct := resp.Header.ContentType()
	var ctv lua.LValue = lua.LNil
	if len(ct) > 0 {
		ctv = in.Value(ct)
	}
	t.RawSetString("content_type", ctv)
	var content lua.LValue = lua.LString(body)
	if bridge.LooksJSON(ct, body) {
		v, err := bridge.DecodeJSONInto(L, body, in, c)
		if _, ok := err.(*bridge.SyntaxError); err != nil && !ok { // its memory budget, the time limit
			L.RaiseError("platform.api: the response's content: %s", err.Error())
		}
		if err == nil {
			content = v
		}
	}
	t.RawSetString("content", content)
	return t
}

// asciiLower appends b in lower case to dst (header names are ASCII tokens; other bytes are
// kept as they are, as strings.ToLower keeps them).
func asciiLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
