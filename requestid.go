package fastlua

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
)

// RequestIDHeader is the request header whose value, when sane (at most MaxRequestIDLength
// bytes of printable ASCII, no spaces), is the request's id: event.request.id, the request_id
// of its log records, ScriptError.RequestID.
const RequestIDHeader = "X-Request-Id"

// MaxRequestIDLength is the longest X-Request-Id taken as the request's id; a longer one (or
// one with a byte outside '!'..'~') is replaced by a made one, so a client cannot write what
// it likes into every log record.
const MaxRequestIDLength = 128

// requestIDPrefix makes made ids unique across processes; the counter, within one.
var (
	requestIDPrefix = func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	requestIDCount atomic.Uint64
)

// RequestID is the request's id (bridge.Info): the root request's X-Request-Id when it is
// sane, else one made for it, once, on first use: a request whose scripts never log, fail or
// read event.request.id costs nothing.
func (x *exchange) RequestID() string {
	r := x.rootExchange()
	if r.requestID == "" {
		if id := r.ctx.Request.Header.Peek(RequestIDHeader); saneRequestID(id) {
			r.requestID = string(id)
		} else {
			r.requestID = requestIDPrefix + strconv.FormatUint(requestIDCount.Add(1), 36)
		}
	}
	return r.requestID
}

// saneRequestID reports whether id can be taken as a request's id as it is.
func saneRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLength {
		return false
	}
	for _, c := range id {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// requestAttrs appends the attributes that tie a log record to its request: the (top-level)
// request's method, path and client address (its IP, behind Config's trusted proxies too: see
// Client), and its id; with a Config.Tracer, what it ties to the running span.
func (x *exchange) requestAttrs(attrs []any) []any {
	r := x.rootExchange()
	ctx := r.ctx
	attrs = append(attrs, slog.String("method", string(ctx.Method())), slog.String("path", string(ctx.Path())),
		slog.String("client", r.Client().Addr), slog.String("request_id", x.RequestID()))
	if t := x.m.cfg.Tracer; t != nil {
		if c := x.spans.current(); c != nil {
			attrs = t.LogAttrs(c, attrs) // trace_id and span_id, with fastluaotel
		}
	}
	return attrs
}
