package bridge

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// ClientOf reads every line of a repeated forwarding header in order, and unmaps IPv4 in IPv6.
func TestClientOfLinesAndMappedAddresses(t *testing.T) {
	p, err := ParseProxies([]string{"::ffff:10.0.0.1", "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.Add("X-Forwarded-For", "1.1.1.1, 203.0.113.9")
	req.Header.Add("X-Forwarded-For", "192.168.4.4")
	req.Header.Add("X-Forwarded-Proto", "https")
	peer := &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 9}
	if c := p.ClientOf(peer, false, &req); c.Addr != "203.0.113.9" || c.Scheme != "https" {
		t.Errorf("two lines: %+v", c)
	}
	if c := (*Proxies)(nil).ClientOf(peer, true, &req); c.Addr != "10.0.0.1" || c.Scheme != "https" {
		t.Errorf("no proxies: %+v", c)
	}
	req.Header.Del("X-Forwarded-For")
	req.Header.Add("X-Forwarded-For", "192.168.1.1, 192.168.1.2")
	if c := p.ClientOf(peer, false, &req); c.Addr != "192.168.1.1" {
		t.Errorf("every hop trusted: the leftmost is the client: %+v", c)
	}
}
