package fastlua

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Requests the middleware makes itself: an in-process platform.api call, and the copy of a
// request that its queued scripts run on (made when it is served, or restored from a queue
// backend). Each is a RequestCtx over a connection that gives the caller's addresses and
// refuses I/O, made by inProcess.init: there is no other constructor.

// inProcess is a RequestCtx made by the middleware, with its connection.
type inProcess struct {
	ctx  fasthttp.RequestCtx
	conn fakeConn
}

// init readies ip for a request from remote to local; a nil remote reads as the zero TCP
// address.
func (ip *inProcess) init(m *Middleware, remote, local net.Addr) {
	if remote == nil {
		remote = &net.TCPAddr{}
	}
	ip.conn = fakeConn{remote: remote, local: local}
	ip.ctx.Init2(&ip.conn, m.fhLogger, false)
}

// reset drops the request, the response and everything else of the last use.
func (ip *inProcess) reset() {
	ip.ctx.Request.Reset()
	ip.ctx.Response.Reset()
	ip.ctx.ResetUserValues()
	ip.conn = fakeConn{}
}

// nested is a pooled in-process request for a platform.api call.
type nested struct {
	inProcess
	deadline time.Time // Deadline(&ctx)
	uri      []byte    // the request URI and path Middleware.apiTarget made, kept for the next call
}

var nestedPool = sync.Pool{New: func() any { return &nested{} }}

func acquireNested() *nested { return nestedPool.Get().(*nested) }

func releaseNested(n *nested) {
	n.reset()
	n.deadline = time.Time{}
	if cap(n.uri) > 4096 {
		n.uri = nil // one long path does not stay with the pool
	}
	nestedPool.Put(n)
}

// fakeConn stands for the caller's connection in RequestCtx made by the middleware: it gives
// the caller's addresses and refuses I/O.
type fakeConn struct{ remote, local net.Addr }

var errFakeConn = errors.New("fastlua: an in-process request has no connection")

func (c *fakeConn) Read([]byte) (int, error) { return 0, errFakeConn }

func (c *fakeConn) Write([]byte) (int, error) { return 0, errFakeConn }

func (c *fakeConn) Close() error { return nil }

func (c *fakeConn) LocalAddr() net.Addr { return c.local }

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }

func (c *fakeConn) SetDeadline(time.Time) error { return nil }

func (c *fakeConn) SetReadDeadline(time.Time) error { return nil }

func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// fasthttpLogger sends fasthttp's log lines for in-process requests to the Logger.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Info(fmt.Sprintf(format, args...))
}

var _ net.Conn = (*fakeConn)(nil)
