package modules

import (
	"encoding/base64"
	"errors"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The base64 module: RFC 4648's standard (§4) and URL-safe (§5) alphabets. encode pads,
// url_encode does not; both decoders take text with or without padding (padding that is there
// must be right) and skip line breaks. An encoding's size is checked before it is allocated.

func (m *lib) openBase64(L *lua.LState) *lua.LTable {
	return m.register(L, "base64", map[string]fn{
		"encode":     func(a args) int { return b64encode(a, base64.StdEncoding) },
		"decode":     func(a args) int { return b64decode(a, base64.StdEncoding, base64.RawStdEncoding) },
		"url_encode": func(a args) int { return b64encode(a, base64.RawURLEncoding) },
		"url_decode": func(a args) int { return b64decode(a, base64.URLEncoding, base64.RawURLEncoding) },
	})
}

func b64encode(a args, enc *base64.Encoding) int {
	s := a.str(1)
	n := enc.EncodedLen(len(s))
	a.checkSize(n)
	buf := make([]byte, n)
	enc.Encode(buf, bytesOf(s))
	a.L.Push(lua.LString(stringOf(buf)))
	return 1
}

// b64decode decodes with padded when the text has a "=", with raw otherwise.
func b64decode(a args, padded, raw *base64.Encoding) int {
	s := a.str(1)
	enc := raw
	if strings.IndexByte(s, '=') >= 0 {
		enc = padded
	}
	buf := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(buf, bytesOf(s))
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			if at := int(ce); at < len(s) {
				a.fail("invalid base64 at byte %d (%q)", at, s[at:at+1])
			}
			a.fail("invalid base64 at byte %d (the text ends in the middle of a group)", int64(ce))
		}
		a.fail("%v", err)
	}
	a.L.Push(lua.LString(stringOf(buf[:n])))
	return 1
}
