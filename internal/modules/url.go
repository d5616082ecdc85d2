package modules

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The url module: percent-encoding in the component form (space is %20) and the query form
// (space is +), query strings to and from tables, and URLs taken apart by net/url. An encoding
// is sized exactly before it is built; decoding only shrinks.

func (m *lib) openURL(L *lua.LState) *lua.LTable {
	return m.register(L, "url", map[string]fn{
		"encode":       func(a args) int { return urlEscape(a, false) },
		"encode_query": func(a args) int { return urlEscape(a, true) },
		"decode":       func(a args) int { return urlUnescape(a, false) },
		"decode_query": func(a args) int { return urlUnescape(a, true) },
		"parse_query":  urlParseQuery,
		"build_query":  urlBuildQuery,
		"parse":        urlParse,
	})
}

// unreserved reports RFC 3986's unreserved characters, which neither form escapes.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// escapedLen is the length of s escaped.
func escapedLen(s string, query bool) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(query && s[i] == ' ') {
			n += 2
		}
	}
	return n
}

// appendEscaped appends s escaped to dst.
func appendEscaped(dst []byte, s string, query bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case unreserved(c):
			dst = append(dst, c)
		case query && c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

func urlEscape(a args, query bool) int {
	s := a.str(1)
	n := escapedLen(s, query)
	if n == len(s) && (!query || strings.IndexByte(s, ' ') < 0) { // nothing to escape (a space becomes a '+' of the same length)
		a.L.Push(lua.LString(s))
		return 1
	}
	a.checkSize(n)
	a.L.Push(lua.LString(stringOf(appendEscaped(make([]byte, 0, n), s, query))))
	return 1
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape decodes s; query decodes + as a space. It returns the offset of a bad escape, or -1.
func unescape(s string, query bool) (string, int) {
	if strings.IndexByte(s, '%') < 0 && (!query || strings.IndexByte(s, '+') < 0) {
		return s, -1
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) {
				return "", i
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", i
			}
			buf = append(buf, hi<<4|lo)
			i += 2
		case query && c == '+':
			buf = append(buf, ' ')
		default:
			buf = append(buf, c)
		}
	}
	return stringOf(buf), -1
}

func urlUnescape(a args, query bool) int {
	s := a.str(1)
	out, bad := unescape(s, query)
	if bad >= 0 {
		a.fail("invalid escape %q at byte %d: %% must be followed by two hex digits", s[bad:min(bad+3, len(s))], bad)
	}
	a.L.Push(lua.LString(out))
	return 1
}

// urlParseQuery is url.parse_query(s): a key given once maps to its value, a key given more
// than once to the list of its values.
func urlParseQuery(a args) int {
	s := a.str(1)
	s = strings.TrimPrefix(s, "?")
	L := a.L
	tb := L.CreateTable(0, strings.Count(s, "&")+1)
	offset := len(a.str(1)) - len(s)
	for s != "" {
		pair, rest, _ := strings.Cut(s, "&")
		start := offset
		offset += len(pair) + 1
		s = rest
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, bad := unescape(k, true)
		if bad < 0 {
			var vbad int
			if v, vbad = unescape(v, true); vbad >= 0 {
				bad = len(k) + 1 + vbad
			}
		}
		if bad >= 0 {
			a.fail("invalid escape %q at byte %d: %% must be followed by two hex digits", pair[bad:min(bad+3, len(pair))], start+bad)
		}
		lk := lua.LString(key)
		switch old := tb.RawGet(lk).(type) {
		case *lua.LNilType:
			tb.RawSet(lk, lua.LString(v))
		case lua.LString:
			list := L.CreateTable(2, 0)
			list.Append(old)
			list.Append(lua.LString(v))
			tb.RawSet(lk, list)
		case *lua.LTable:
			old.Append(lua.LString(v))
		}
	}
	L.Push(tb)
	return 1
}

// queryPair is one key and its values, as build_query writes them.
type queryPair struct {
	key    string
	values []string
}

// urlBuildQuery is url.build_query(t): "a=1&b=x+y", keys sorted, a list repeating its key.
func urlBuildQuery(a args) int {
	var pairs []queryPair
	size := 0
	a.eachPair(1, func(k, v lua.LValue) {
		key, ok := scalarText(k)
		if !ok || k.Type() == lua.LTBool {
			a.argError(1, "keys must be strings or numbers, got a %s", k.Type().String())
		}
		p := queryPair{key: key}
		if val, ok := scalarText(v); ok {
			p.values = []string{val}
		} else if list, ok := v.(*lua.LTable); ok {
			p.values = listText(a, key, list)
		} else {
			a.argError(1, "the value of %q is a %s: strings, numbers, booleans or lists of them expected", key, v.Type().String())
		}
		for _, val := range p.values {
			size += escapedLen(key, true) + escapedLen(val, true) + 2
		}
		if size-1 > a.m.o.MaxString {
			a.stringLimit(size - 1)
		}
		pairs = append(pairs, p)
	})
	slices.SortFunc(pairs, func(x, y queryPair) int { return strings.Compare(x.key, y.key) })
	buf := make([]byte, 0, max(size-1, 0))
	for _, p := range pairs {
		for _, val := range p.values {
			if len(buf) > 0 {
				buf = append(buf, '&')
			}
			buf = appendEscaped(buf, p.key, true)
			buf = append(buf, '=')
			buf = appendEscaped(buf, val, true)
		}
	}
	a.L.Push(lua.LString(stringOf(buf)))
	return 1
}

// scalarText is the text of a string, number or boolean as tostring writes it.
func scalarText(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber, lua.LBool:
		return v.String(), true
	}
	return "", false
}

// listText returns the texts of a list (keys 1..n, scalar values) for build_query.
func listText(a args, key string, list *lua.LTable) []string {
	n := list.Len()
	var out []string
	count := 0
	list.ForEach(func(k, v lua.LValue) {
		count++
		i, isInt := k.(lua.LNumber)
		if !isInt || float64(i) != float64(int(i)) || int(i) < 1 || int(i) > n {
			a.argError(1, "the value of %q is a table that is not a list (nested tables are not supported)", key)
		}
	})
	if count != n {
		a.argError(1, "the value of %q is a table that is not a list (nested tables are not supported)", key)
	}
	for i := 1; i <= n; i++ {
		text, ok := scalarText(list.RawGetInt(i))
		if !ok {
			a.argError(1, "the value of %q holds a %s: strings, numbers or booleans expected", key, list.RawGetInt(i).Type().String())
		}
		out = append(out, text)
	}
	return out
}

// eachPair calls f with the pairs of argument n: a table, or a value with a __pairs
// metamethod (event.request.parameters), walked with that iterator.
func (a args) eachPair(n int, f func(k, v lua.LValue)) {
	L := a.L
	v := L.Get(n)
	if mm := L.GetMetaField(v, "__pairs"); mm.Type() == lua.LTFunction {
		L.Push(mm)
		L.Push(v)
		L.Call(1, 3)
		iter, state, ctrl := L.Get(-3), L.Get(-2), L.Get(-1)
		L.Pop(3)
		for count := 0; ; count++ {
			if count > a.m.o.MaxString {
				a.stringLimit(count)
			}
			L.Push(iter)
			L.Push(state)
			L.Push(ctrl)
			L.Call(2, 2)
			k, val := L.Get(-2), L.Get(-1)
			L.Pop(2)
			if k == lua.LNil {
				return
			}
			f(k, val)
			ctrl = k
		}
	}
	tb, ok := v.(*lua.LTable)
	if !ok {
		a.typeError(n, "table")
	}
	tb.ForEach(f)
}

// urlParse is url.parse(u): its parts, each left out when empty.
func urlParse(a args) int {
	s := a.str(1)
	u, err := url.Parse(s)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		a.fail("%q is not a URL: %v", s, err)
	}
	L := a.L
	tb := L.CreateTable(0, 9)
	set := func(k, v string) {
		if v != "" {
			tb.RawSetString(k, lua.LString(v))
		}
	}
	set("scheme", u.Scheme)
	if u.User != nil {
		set("user", u.User.Username())
		if p, ok := u.User.Password(); ok {
			tb.RawSetString("password", lua.LString(p))
		}
	}
	set("host", u.Host)
	set("hostname", u.Hostname())
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			tb.RawSetString("port", lua.LNumber(n))
		}
	}
	if u.Opaque != "" {
		set("path", u.Opaque)
	} else {
		set("path", u.EscapedPath())
	}
	set("query", u.RawQuery)
	set("fragment", u.EscapedFragment())
	L.Push(tb)
	return 1
}
