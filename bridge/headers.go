package bridge

import (
	"bytes"
	"fmt"
	"iter"
	"strings"
	"unsafe"

	"github.com/fastlua/fastlua/internal/luanum"
	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// kvKind says which of fasthttp's key/value sets a kvObject shows.
type kvKind uint8

const (
	kvRequestHeaders kvKind = iota
	kvResponseHeaders
	kvQuery
)

// kvStore is what fasthttp's RequestHeader, ResponseHeader and Args have in common.
type kvStore interface {
	Set(key, value string)
	Add(key, value string)
	Del(key string)
	All() iter.Seq2[[]byte, []byte]
}

// kvObject is event.request.headers, event.response.headers or event.request.parameters: a
// userdata reading and writing fasthttp's own header or argument storage. Header names are
// case-insensitive and listed in lower case; repeated headers read as one value joined with
// ","; repeated query arguments likewise. Assigning a table of strings sets repeated values;
// assigning nil deletes.
type kvObject struct {
	ev   *Event
	kind kvKind
	ud   *lua.LUserData
	name string // "event.request.headers"
}

func newKV(L *lua.LState, e *Event, kind kvKind) *kvObject {
	o := &kvObject{ev: e, kind: kind}
	switch kind {
	case kvRequestHeaders:
		o.name = "event.request.headers"
	case kvResponseHeaders:
		o.name = "event.response.headers"
	case kvQuery:
		o.name = "event.request.parameters"
	}
	mt := L.CreateTable(0, 7)
	mt.RawSetString("__index", L.NewFunction(o.index))
	mt.RawSetString("__newindex", L.NewFunction(o.newindex))
	mt.RawSetString("__pairs", L.NewFunction(o.pairs))
	mt.RawSetString("__metatable", lua.LString(o.name))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(render(o.name, o)))
		return 1
	}))
	// # is what it is for a table of names: 0 (there are no list entries).
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		o.ev.mustBeBound(L)
		L.Push(lua.LNumber(0))
		return 1
	}))
	o.ud = L.NewUserData()
	o.ud.Value = o
	o.ud.Metatable = mt
	return o
}

func (o *kvObject) requestSide() bool { return o.kind != kvResponseHeaders }

func (o *kvObject) store() kvStore {
	switch o.kind {
	case kvRequestHeaders:
		return &o.ev.request.Header
	case kvResponseHeaders:
		return &o.ev.response.Header
	default:
		return o.ev.request.URI().QueryArgs()
	}
}

// peekAll returns every value stored under key; the slices are valid until the next call.
func (o *kvObject) peekAll(key string) [][]byte {
	switch o.kind {
	case kvRequestHeaders:
		return o.ev.request.Header.PeekAll(key)
	case kvResponseHeaders:
		return o.ev.response.Header.PeekAll(key)
	default:
		return o.ev.request.URI().QueryArgs().PeekMulti(key)
	}
}

// get returns the value of key as a Lua string, or nil.
func (o *kvObject) get(key string) lua.LValue {
	vals := o.peekAll(key)
	switch len(vals) {
	case 0:
		return lua.LNil
	case 1:
		return lua.LString(vals[0])
	}
	return lua.LString(bytes.Join(vals, []byte(",")))
}

// index: args (ud, key).
func (o *kvObject) index(L *lua.LState) int {
	o.ev.mustBeBound(L)
	key, ok := L.Get(2).(lua.LString)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(o.get(string(key)))
	return 1
}

// newindex: args (ud, key, value).
func (o *kvObject) newindex(L *lua.LState) int {
	o.assign(L, L.CheckString(2), L.Get(3))
	return 0
}

// assign does o[key] = val for a script, raising its errors in L.
func (o *kvObject) assign(L *lua.LState, key string, val lua.LValue) {
	o.ev.checkWrite(L, o.name, "", o.requestSide())
	if err := o.set(key, val); err != nil {
		L.RaiseError("%s", err.Error())
	}
}

// FieldFunc returns a Go function that does what obj[key] does (set false: called with no
// arguments, it returns the value) or obj[key] = v (set true: called with v), for one of the
// event's key/value objects ("event.request.headers", "event.request.parameters",
// "event.response.headers") and a constant key. Specialized code calls it in place of the
// object's __index or __newindex, which gopher-lua reaches through a metatable lookup and a
// nested VM loop. It returns nil for any other object.
func (e *Event) FieldFunc(obj, key string, set bool) lua.LGFunction {
	var o *kvObject
	switch obj {
	case e.req.headers.name:
		o = e.req.headers
	case e.req.params.name:
		o = e.req.params
	case e.resp.headers.name:
		o = e.resp.headers
	default:
		return nil
	}
	if set {
		// The name is checked and put in normal form once, here; a string value then goes
		// straight to fasthttp.
		var canon []byte
		if o.kind != kvQuery && isToken(key) {
			canon = append([]byte(nil), e.canonical(key)...)
		}
		return func(L *lua.LState) int {
			v, isStr := L.Get(1).(lua.LString)
			if !isStr || canon == nil {
				o.assign(L, key, L.Get(1))
				return 0
			}
			o.ev.checkWrite(L, o.name, "", o.requestSide())
			if err := o.checkValue(key, string(v)); err != nil {
				L.RaiseError("%s", err.Error())
			}
			o.writeOne(key, canon, string(v))
			return 0
		}
	}
	return func(L *lua.LState) int {
		o.ev.mustBeBound(L)
		L.Push(o.get(key))
		return 1
	}
}

// set stores one key: a string or number sets it, a table of them sets repeated values, nil
// deletes it. Whatever the request or response held under the name before (repeated copies,
// for headers in any case) is gone: it carries exactly what the script wrote. A parameter
// written is written through to the request's query string (syncQuery).
func (o *kvObject) set(key string, val lua.LValue) error {
	if o.kind == kvQuery {
		if err := setParam(o.ev.request.URI().QueryArgs(), o.name, key, val); err != nil {
			return err
		}
		o.ev.scratch = syncQuery(o.ev.request, o.ev.scratch)
		return nil
	}
	if !isToken(key) {
		return fmt.Errorf("%s: %q is not a valid header name", o.name, key)
	}
	switch v := val.(type) {
	case *lua.LNilType:
		o.ev.scratch = removeHeader(o.header(), key, o.ev.scratch)
	case lua.LString, lua.LNumber:
		str := luanum.Text(v)
		if err := o.checkValue(key, str); err != nil {
			return err
		}
		o.writeOne(key, nil, str)
	case *lua.LTable:
		n := v.Len()
		for i := 1; i <= n; i++ {
			item := v.RawGetInt(i)
			if err := listItem(o.name, key, item); err != nil {
				return err
			}
			if err := o.checkValue(key, luanum.Text(item)); err != nil {
				return err
			}
		}
		h := o.header()
		o.ev.scratch = removeHeader(h, key, o.ev.scratch)
		for i := 1; i <= n; i++ {
			h.Add(key, luanum.Text(v.RawGetInt(i)))
		}
	default:
		return fmt.Errorf("%s[%q] must be a string, a number, a list of strings or nil, not %s", o.name, key, describe(val))
	}
	return nil
}

// listItem checks one value of a list assigned to a header or parameter.
func listItem(name, key string, item lua.LValue) error {
	switch item.(type) {
	case lua.LString, lua.LNumber:
		return nil
	}
	return fmt.Errorf("%s[%q]: a list of values must hold strings, not %s", name, key, describe(item))
}

// setParam stores one query parameter in args, by the rules of event.request.parameters: a
// string or number sets it, a list of them sets repeated values, nil deletes it; every value
// the name held before goes (repeated ones too). It is the one way parameters are written (event.request.parameters, platform.api's options.parameters);
// the caller then calls syncQuery.
func setParam(args *fasthttp.Args, name, key string, val lua.LValue) error {
	if key == "" {
		return fmt.Errorf("%s: a parameter name cannot be empty", name)
	}
	switch v := val.(type) {
	case *lua.LNilType:
		args.Del(key)
	case lua.LString, lua.LNumber:
		// Not Set: it replaces the first of repeated values only.
		args.Del(key)
		args.Add(key, luanum.Text(v))
	case *lua.LTable:
		n := v.Len()
		for i := 1; i <= n; i++ {
			if err := listItem(name, key, v.RawGetInt(i)); err != nil {
				return err
			}
		}
		args.Del(key)
		for i := 1; i <= n; i++ {
			args.Add(key, luanum.Text(v.RawGetInt(i)))
		}
	default:
		return fmt.Errorf("%s[%q] must be a string, a number, a list of strings or nil, not %s", name, key, describe(val))
	}
	return nil
}

// SetParameters merges parameters into req's query, as assigning each of them to
// event.request.parameters would (platform.api's options.parameters): v is a table (or one of
// the event's key/value objects) whose keys are strings or numbers and values strings,
// numbers or lists of them; a name given holds exactly its value afterwards. Every accessor of
// req agrees on the result (see syncQuery). A bad entry is an error naming name
// ("options.parameters").
func SetParameters(req *fasthttp.Request, name string, v lua.LValue) error {
	tb, ok := asTable(v, true)
	if !ok {
		return fmt.Errorf("%s must be a table, not %s", name, describe(v))
	}
	args := req.URI().QueryArgs()
	var err error
	for k, v := tb.Next(lua.LNil); k != lua.LNil && err == nil; k, v = tb.Next(k) {
		switch k.(type) {
		case lua.LString, lua.LNumber:
			err = setParam(args, name, luanum.Text(k), v)
		default:
			err = fmt.Errorf("%s: keys must be strings, not %s", name, describe(k))
		}
	}
	syncQuery(req, nil) // what was set before an error stays, in every accessor
	return err
}

// SetHeaders merges headers into h, as assigning each of them to event.request.headers would
// (platform.api's options.headers): v is a table (or one of the event's key/value objects) of
// header names and values (strings, numbers or lists of them); every copy a name had before
// goes, in any case (see removeHeader). Content-Length and Transfer-Encoding are left out: they
// describe the body, which the request's own payload sets. A bad entry is an error naming name
// ("options.headers"), and then nothing is written.
func SetHeaders(h *fasthttp.RequestHeader, name string, v lua.LValue) error {
	tb, ok := asTable(v, true)
	if !ok {
		return fmt.Errorf("%s must be a table, not %s", name, describe(v))
	}
	if err := checkEntries(name, true, tb); err != nil {
		return err
	}
	var buf []byte
	for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
		key := string(k.(lua.LString))
		switch strings.ToLower(key) {
		case "content-length", "transfer-encoding":
			continue
		}
		buf = removeHeader(h, key, buf)
		switch v := v.(type) {
		case *lua.LTable:
			for i := 1; i <= v.Len(); i++ {
				h.Add(key, luanum.Text(v.RawGetInt(i)))
			}
		default:
			h.Add(key, luanum.Text(v))
		}
	}
	return nil
}

// syncQuery makes req's query string and request line say what its QueryArgs hold, after they
// were changed. fasthttp keeps the query string the arguments were parsed from: without this,
// URI().QueryString() and RequestCtx.RequestURI() go on returning the old query, and a handler
// that forwards the raw query (a proxy) never sees the change. The path of the request line
// stays as it came. buf is scratch space, returned (grown) for the next call.
func syncQuery(req *fasthttp.Request, buf []byte) []byte {
	u := req.URI()
	qs := u.QueryArgs().QueryString() // valid until the next change of the arguments
	line := req.Header.RequestURI()
	if i := bytes.IndexAny(line, "?#"); i >= 0 {
		line = line[:i]
	}
	buf = append(buf[:0], line...)
	if len(qs) > 0 {
		buf = append(buf, '?')
		buf = append(buf, qs...)
	}
	req.Header.SetRequestURIBytes(buf)
	u.SetQueryStringBytes(qs) // the arguments are parsed again from it on their next use
	return buf
}

// httpHeader is what fasthttp's RequestHeader and ResponseHeader have in common.
type httpHeader interface {
	Add(key, value string)
	Del(key string)
	SetCanonical(key, value []byte)
	All() iter.Seq2[[]byte, []byte]
	DisableNormalizing() bool
	EnableNormalizing() bool
}

func (o *kvObject) header() httpHeader {
	if o.kind == kvResponseHeaders {
		return &o.ev.response.Header
	}
	return &o.ev.request.Header
}

// removeHeader removes every copy of the header key from h, whatever the case of its name.
// It is the first step of every header write: fasthttp's Set replaces only the first of
// repeated headers (and merges Cookie, appends Set-Cookie), so a write that left the others
// would forward what the script meant to replace. Del removes every name equal to key's normal
// form, which is every name of a header whose names are normalized (fasthttp's parser and Add
// put them in that form). A header that keeps names as they came (a server with
// DisableHeaderNamesNormalizing) can hold "x-role" beside "X-Role": it is searched for names
// equal to key in any case, each removed as stored. buf is scratch space, returned for the next
// call.
func removeHeader(h httpHeader, key string, buf []byte) []byte {
	normalizing := !h.DisableNormalizing()
	if normalizing {
		h.EnableNormalizing()
		h.Del(key)
		return buf
	}
	h.Del(key)
	return removeOtherCases(h, key, buf)
}

// removeOtherCases is removeHeader for a header whose names are not normalized (out of line:
// the iteration allocates).
func removeOtherCases(h httpHeader, key string, buf []byte) []byte {
	buf = buf[:0]
	for k := range h.All() {
		if len(k) == len(key) && bytes.EqualFold(k, s2b(key)) {
			buf = append(buf, k...) // every match is len(key) bytes long
		}
	}
	for i := 0; i+len(key) <= len(buf); i += len(key) {
		h.Del(b2s(buf[i : i+len(key)]))
	}
	return buf
}

// writeOne makes the header key hold exactly value (see removeHeader). For headers it skips
// fasthttp's normalization of the name when it can: canon is the name's normal form when the
// caller has it, and otherwise the normal forms of the names a script uses are kept in a small
// cache.
func (o *kvObject) writeOne(key string, canon []byte, value string) {
	h := o.header()
	// DisableNormalizing reports the previous setting.
	if h.DisableNormalizing() {
		o.ev.scratch = removeHeader(h, key, o.ev.scratch) // names as they came: any case
		h.Add(key, value)
		return
	}
	// Names are normalized: every copy of the header has the name's normal form. With
	// normalizing off for the two calls, Del removes them all by that form without
	// normalizing it again (as removeHeader's Del would), and SetCanonical appends.
	n := o.normal(key, canon)
	h.Del(b2s(n))
	h.SetCanonical(n, s2b(value))
	h.EnableNormalizing()
}

// normal returns canon, or when it is nil, the normal form of key.
func (o *kvObject) normal(key string, canon []byte) []byte {
	if canon != nil {
		return canon
	}
	return o.ev.canonical(key)
}

// canonicalKeys caches header names in fasthttp's normal form ("x-request-id" ->
// "X-Request-Id"): normalizing costs more than a script's header write.
type canonicalKeys struct {
	keys  [16]string
	canon [16][]byte
	next  int
}

// canonical returns the normal form of a header name that isToken accepted.
func (e *Event) canonical(key string) []byte {
	c := &e.canon
	for i := range c.keys {
		if len(c.keys[i]) == len(key) && c.keys[i] == key {
			return c.canon[i]
		}
	}
	i := c.next
	c.next = (c.next + 1) % len(c.keys)
	b := append(c.canon[i][:0], key...)
	upper := true
	for j, ch := range b {
		switch {
		case upper && ch >= 'a' && ch <= 'z':
			ch -= 'a' - 'A'
		case !upper && ch >= 'A' && ch <= 'Z':
			ch += 'a' - 'A'
		}
		upper = ch == '-'
		b[j] = ch
	}
	c.keys[i], c.canon[i] = key, b
	return b
}

// s2b views a string as bytes for an API that copies them.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// b2s views bytes as a string for an API that copies them.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (o *kvObject) checkValue(key, v string) error {
	return checkValue(o.name, o.kind != kvQuery, key, v)
}

// checkValue checks one value of a header (headers true) or parameter of the set name.
func checkValue(name string, headers bool, key, v string) error {
	if headers && !validHeaderValue(v) {
		return fmt.Errorf("%s[%q]: the value holds a control character (CR, LF or NUL are not allowed)", name, key)
	}
	return nil
}

// validHeaderValue rejects values that would split or corrupt a header line.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// Headers fasthttp manages itself; replacing all headers leaves them alone.
var managedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
}

// replace sets the whole set from a table (event.request.headers = {...}) or another of the
// event's key/value objects: names not in it are deleted, except the headers fasthttp manages
// (Host, Content-Length, ...), and every name in it holds exactly its value (see set).
func (o *kvObject) replace(val lua.LValue) error {
	tb, ok := asTable(val, true)
	if !ok {
		return fmt.Errorf("%s must be assigned a table, not %s", o.name, describe(val))
	}
	if err := checkEntries(o.name, o.kind != kvQuery, tb); err != nil {
		return err // a bad entry changes nothing
	}
	if o.kind == kvQuery {
		args := o.ev.request.URI().QueryArgs()
		var del []string
		for k := range args.All() {
			if tb.RawGetString(string(k)) == lua.LNil {
				del = append(del, string(k))
			}
		}
		for _, k := range del {
			args.Del(k)
		}
		for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
			if err := setParam(args, o.name, string(k.(lua.LString)), v); err != nil {
				return err
			}
		}
		o.ev.scratch = syncQuery(o.ev.request, o.ev.scratch)
		return nil
	}
	// Every header goes but the managed ones, then the table's are written.
	var del []string
	for k := range o.header().All() {
		if !managedHeaders[strings.ToLower(string(k))] {
			del = append(del, string(k))
		}
	}
	for _, k := range del {
		o.ev.scratch = removeHeader(o.header(), k, o.ev.scratch)
	}
	for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
		if name := string(k.(lua.LString)); !managedHeaders[strings.ToLower(name)] {
			if err := o.set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEntries checks every entry of a table of headers (headers true) or parameters before
// any is written; name is the table's name for the errors ("options.headers").
func checkEntries(name string, headers bool, tb *lua.LTable) error {
	var seen map[string]string // header names in lower case, for names given twice
	for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
		ks, ok := k.(lua.LString)
		if !ok {
			return fmt.Errorf("%s: keys must be strings, not %s", name, describe(k))
		}
		if !headers && ks == "" {
			return fmt.Errorf("%s: a parameter name cannot be empty", name)
		}
		if headers {
			if !isToken(string(ks)) {
				return fmt.Errorf("%s: %q is not a valid header name", name, string(ks))
			}
			if seen == nil {
				seen = map[string]string{}
			}
			lower := strings.ToLower(string(ks))
			if prev, dup := seen[lower]; dup {
				return fmt.Errorf("%s: %q and %q name the same header (names are case-insensitive)", name, prev, string(ks))
			}
			seen[lower] = string(ks)
		}
		switch v := v.(type) {
		case lua.LString, lua.LNumber:
			if err := checkValue(name, headers, string(ks), luanum.Text(v)); err != nil {
				return err
			}
		case *lua.LTable:
			for i := 1; i <= v.Len(); i++ {
				item := v.RawGetInt(i)
				if err := listItem(name, string(ks), item); err != nil {
					return err
				}
				if err := checkValue(name, headers, string(ks), luanum.Text(item)); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s[%q] must be a string, a number or a list of strings, not %s", name, string(ks), describe(v))
		}
	}
	return nil
}

// pairs: __pairs returns an iterator over a snapshot (a plain table) of the current values.
func (o *kvObject) pairs(L *lua.LState) int {
	o.ev.mustBeBound(L)
	L.Push(tableNextFn)
	L.Push(o.snapshot(false))
	L.Push(lua.LNil)
	return 3
}

// tableNextFn is next() for a plain table.
var tableNextFn = goFunction(func(L *lua.LState) int {
	tb := L.CheckTable(1)
	k, v := tb.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
})
