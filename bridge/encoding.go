package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Compressed bodies. Scripts see a body decoded from its Content-Encoding (gzip, deflate, br
// and zstd, what fasthttp supports), never the compressed bytes, and the decoded size is
// bounded (Event.SetMaxJSON: Config.MaxJSONSize), so a small body that expands to gigabytes
// fails the script when it passes the limit instead of being allocated. The decoded text is
// kept for the phase (it is what a decoded payload is compared with). A body a script only
// reads is left as it was, byte for byte; a body a script changes is compressed again with
// the coding its message names when it is written, so the header and the bytes always agree
// (and a client that asked for that coding still gets it). An empty body, or one whose coding
// fastlua cannot produce, is written without Content-Encoding.

// defaultMaxDecoded bounds a decompressed body when no limit was set (SetMaxJSON(0)).
const defaultMaxDecoded = 64 << 20

// coding is a Content-Encoding the bridge knows.
type coding uint8

const (
	codingIdentity coding = iota // no Content-Encoding, or identity
	codingGzip
	codingDeflate
	codingBrotli
	codingZstd
	codingOther // a coding fasthttp cannot decode ("compress", a list of codings)
)

var codingNames = [...]string{"identity", "gzip", "deflate", "br", "zstd", ""}

// parseCoding reads a Content-Encoding value (case-insensitive, RFC 9110 8.4.1).
func parseCoding(ce []byte) coding {
	ce = bytes.TrimSpace(ce)
	switch {
	case len(ce) == 0, bytes.EqualFold(ce, []byte("identity")):
		return codingIdentity
	case bytes.EqualFold(ce, []byte("gzip")), bytes.EqualFold(ce, []byte("x-gzip")):
		return codingGzip
	case bytes.EqualFold(ce, []byte("deflate")):
		return codingDeflate
	case bytes.EqualFold(ce, []byte("br")):
		return codingBrotli
	case bytes.EqualFold(ce, []byte("zstd")):
		return codingZstd
	}
	return codingOther
}

// compressed is what decoding needs of a *fasthttp.Request or *fasthttp.Response.
type compressed interface {
	BodyGunzipWithLimit(int) ([]byte, error)
	BodyInflateWithLimit(int) ([]byte, error)
	BodyUnbrotliWithLimit(int) ([]byte, error)
	BodyUnzstdWithLimit(int) ([]byte, error)
}

// decompress returns m's body decoded from c (not codingIdentity), at most max bytes.
func decompress(m compressed, c coding, ce []byte, max int) ([]byte, error) {
	var text []byte
	var err error
	switch c {
	case codingGzip:
		text, err = m.BodyGunzipWithLimit(max)
	case codingDeflate:
		text, err = m.BodyInflateWithLimit(max)
	case codingBrotli:
		text, err = m.BodyUnbrotliWithLimit(max)
	case codingZstd:
		text, err = m.BodyUnzstdWithLimit(max)
	default:
		return nil, fmt.Errorf("the body has Content-Encoding %q, which fastlua cannot decode (it decodes gzip, deflate, br and zstd)", ce)
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return nil, fmt.Errorf("the %s body decompresses to more than %d bytes (Config.MaxJSONSize)", codingNames[c], max)
	}
	if err != nil {
		return nil, fmt.Errorf("the %s body cannot be decompressed: %v", codingNames[c], err)
	}
	if text == nil {
		text = []byte{} // decoded, and empty
	}
	return text, nil
}

// compress returns text compressed with c, in a new slice, and false for a coding it cannot
// produce.
func compress(c coding, text []byte) ([]byte, bool) {
	switch c {
	case codingGzip:
		return fasthttp.AppendGzipBytes(nil, text), true
	case codingDeflate:
		return fasthttp.AppendDeflateBytes(nil, text), true
	case codingBrotli:
		return fasthttp.AppendBrotliBytes(nil, text), true
	case codingZstd:
		return fasthttp.AppendZstdBytes(nil, text), true
	}
	return nil, false
}

// plainBody is a message body as scripts see it, once decoded from its Content-Encoding.
type plainBody struct {
	text    []byte // the decoded body; read-only (it may alias a Lua string)
	decoded bool   // text holds it; false: the body has no Content-Encoding, read fasthttp's
}

// get returns the body of m as scripts see it: body (m's own) itself when it is empty or has
// no Content-Encoding (ce), else the body decoded, at most max bytes, and kept for the next call.
func (p *plainBody) get(m compressed, ce, body []byte, max int) ([]byte, error) {
	if p.decoded {
		return p.text, nil
	}
	c := parseCoding(ce)
	if c == codingIdentity || len(body) == 0 { // an empty body is empty in any coding
		return body, nil
	}
	text, err := decompress(m, c, ce, max)
	if err != nil {
		return nil, err
	}
	p.text, p.decoded = text, true
	return text, nil
}

// source is the text a decoded body came from: the decoded text, or body (the message's own).
func (p *plainBody) source(body []byte) []byte {
	if p.decoded {
		return p.text
	}
	return body
}

// encoded is what a message's body must be for scripts to read text, given the message's
// Content-Encoding ce: body is text compressed with ce's coding, or text itself when drop
// says that Content-Encoding must go (an empty text, a coding fastlua cannot produce) or ce
// is empty. p is updated to hold text when body is compressed; owned says text is not
// reused by the caller, so p may keep it without a copy.
func encoded(p *plainBody, ce, text []byte, owned bool) (body []byte, drop bool) {
	*p = plainBody{}
	c := parseCoding(ce)
	if c == codingIdentity {
		return text, len(ce) > 0
	}
	if len(text) == 0 {
		return text, true
	}
	z, ok := compress(c, text)
	if !ok {
		return text, true
	}
	if !owned {
		text = bytes.Clone(text)
	}
	p.text, p.decoded = text, true
	return z, false
}

// stringBytes returns the bytes of s without a copy; they must not be changed.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// ResponseText returns resp's body decoded from its Content-Encoding (decoded is true then),
// at most max bytes (0: defaultMaxDecoded). platform.api results are made from it.
func ResponseText(resp *fasthttp.Response, max int) (text []byte, decoded bool, err error) {
	var p plainBody
	text, err = p.get(resp, resp.Header.ContentEncoding(), resp.Body(), maxDecoded(max))
	return text, p.decoded, err
}

func maxDecoded(max int) int {
	if max <= 0 {
		return defaultMaxDecoded
	}
	return max
}
