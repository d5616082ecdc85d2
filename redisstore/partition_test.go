package redisstore_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
)

// tcpProxy forwards 127.0.0.1 connections to Redis. Drop cuts the connections open now as a
// middlebox that forgets them does (a NAT or firewall timeout, a load balancer's restart): Redis
// sees its side closed, the client's side stays open and silent for ever (what it sends is
// swallowed, nothing comes back). Connections made after Drop work.
type tcpProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns map[net.Conn]net.Conn // client side → Redis side
	dead  map[net.Conn]bool     // client sides that were dropped
}

func startProxy(t *testing.T, to string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, to: to, conns: map[net.Conn]net.Conn{}, dead: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c, r := range p.conns {
			c.Close()
			r.Close()
		}
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve(c net.Conn) {
	r, err := net.Dial("tcp", p.to)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c] = r
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, r) }() // ends when r is closed: c stays open
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			r.Close()
			return
		}
		p.mu.Lock()
		dead := p.dead[c]
		p.mu.Unlock()
		if !dead {
			_, _ = r.Write(buf[:n])
		}
	}
}

// Drop forgets every connection open now (see tcpProxy).
func (p *tcpProxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, r := range p.conns {
		if !p.dead[c] {
			p.dead[c] = true
			r.Close()
		}
	}
}

// An instance whose connection to Redis was dropped silently (the client's socket left open,
// no FIN or RST: a middlebox forgot it) still receives the changes made after it, within
// seconds: its subscription is checked when idle (a PING) and replaced when the check gets no
// answer. With the periodic resync set to an hour, only the subscription can bring the
// change. Before, the subscription waited on the dead socket for ever, and every change reached
// the instance only at the next full resync (30 s by default) (red-team finding).
func TestScriptSourceSilentlyDroppedConnection(t *testing.T) {
	srv := redistest.Start(t)
	proxy := startProxy(t, srv.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	a := startInstanceOn(t, redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{}), "", fastlua.Config{ScriptResync: time.Hour})
	b := startInstance(t, srv, "", fastlua.Config{ScriptResync: time.Hour})
	if st, body := b.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, a, "v1")
	proxy.Drop()
	if st, body := b.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v2"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, a, "v2")
	// And the changes after that.
	if st, body := b.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v3"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, a, "v3")
}
