package fastlua

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// Paths and queries on the wire.
//
// fasthttp decodes a request's path once (percent-escapes, then "." and ".." segments and
// repeated slashes), and the scripts match that decoded path, ctx.Path(). Whatever sends the
// request on (a proxy) or makes one (platform.api) must put on the wire a path that decodes
// once into exactly that path, never the decoded path as if it were still encoded: a client's
// %252e%252e decodes to the text %2e%2e, which decoded again would be "..". AppendPath is that
// encoding. Relative platform.api targets are decoded here once, checked, and encoded again
// with it.

// pathSafe marks the bytes AppendPath leaves as they are: letters, digits, "-._~" and
// "/!$&'()*,:=@". Everything else is escaped, "%" included, and so are ";" (path parameters to
// some servers), "+" (a space to some) and "\" (a separator to some).
var pathSafe = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~/!$&'()*,:=@" {
		t[c] = true
	}
	return t
}()

// querySafe marks the bytes a query may hold as they are (RFC 3986: pchar, "/" and "?"); "%"
// is kept only where it starts an escape.
var querySafe = func() (t [256]bool) {
	t = pathSafe
	for _, c := range "+;?" {
		t[c] = true
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// AppendPath appends path, percent-encoded for a request line, to dst. path is a decoded and
// resolved path, as ctx.Path() gives it (no "." or ".." segment, no "//", which a server
// resolves whatever their encoding): a server that decodes the result once, as fasthttp does,
// gets path back byte for byte, so an escape inside path (%2e, from a client's %252e) stays
// text and is never decoded into a dot. A handler behind the middleware that forwards the request (a
// proxy, as examples/gateway) forwards AppendPath(nil, ctx.Path()), which is the path the
// scripts were matched on, not the raw request URI.
func AppendPath(dst, path []byte) []byte {
	for _, c := range path {
		if pathSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// appendQuery appends a query as a script wrote it to dst, with what a query cannot hold
// escaped: spaces, control and non-ASCII bytes, `"#<>\^{|}` and backquote, and a "%" that
// starts no escape (%25). Escapes and everything else stay as they were, so the query decodes
// once into what the script meant (DreamFactory's "filter=(a%3c2026-12-02 02:25:00)" included).
func appendQuery(dst []byte, q string) []byte {
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '%' && i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2]):
			dst = append(dst, c)
		case c != '%' && querySafe[c]:
			dst = append(dst, c)
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// apiTarget resolves a relative platform.api target ("service/resource?query") below the
// prefix. The part before the first "?" is the path: it is decoded once and resolved ("..",
// "//") as the server would, relative to the prefix; it must stay below the prefix and hold no
// control character once decoded. The rest is the query, taken as written (a "#" is text, not
// a fragment). It returns the request URI to send (the path encoded with AppendPath, the query
// with appendQuery) and the decoded path the scripts will match, both appended to dst[:0] (the
// path after the URI, in the same buffer).
func (m *Middleware) apiTarget(dst []byte, target string) (uri, path []byte, err error) {
	rawPath, rawQuery, hasQuery := strings.Cut(target, "?")
	var baseBuf [128]byte
	base := append(append(baseBuf[:0], m.prefix...), '/') // the prefix, decoded, with a slash
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	b := AppendPath(dst[:0], base)
	b = append(b, strings.TrimPrefix(rawPath, "/")...)
	u.SetPathBytes(b) // decodes once and resolves, as fasthttp does for a request
	resolved := u.Path()
	if !bytes.HasPrefix(resolved, base) {
		return nil, nil, fmt.Errorf("the path resolves to %q, outside the prefix %q", resolved, string(base))
	}
	if i := controlByte(string(resolved)); i >= 0 {
		return nil, nil, fmt.Errorf("the path holds a control character once decoded (%q)", resolved[i])
	}
	uri = AppendPath(b[:0], resolved)
	if hasQuery {
		uri = append(uri, '?')
		uri = appendQuery(uri, rawQuery)
	}
	// The path follows the URI in the same buffer: u goes back to its pool.
	end := len(uri)
	uri = append(uri, resolved...)
	return uri[:end], uri[end:], nil
}
