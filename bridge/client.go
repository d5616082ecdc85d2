package bridge

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Proxies is a parsed Config.TrustedProxies: the addresses whose forwarding headers
// (X-Forwarded-For, Forwarded, X-Forwarded-Proto, X-Forwarded-Host) are believed. The nil
// *Proxies trusts no one.
type Proxies struct{ prefixes []netip.Prefix }

// ParseProxies parses a list of addresses ("10.0.0.1", "::1") and CIDR ranges ("10.0.0.0/8");
// an entry that is neither is an error naming it.
func ParseProxies(list []string) (*Proxies, error) {
	if len(list) == 0 {
		return nil, nil
	}
	p := &Proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if pr, err := netip.ParsePrefix(s); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("fastlua: Config.TrustedProxies: %q is not an IP address or CIDR range", s)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Trusted reports whether a is one of the trusted proxies.
func (p *Proxies) Trusted(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// Client is who sent a request, as event.request.remote_addr, .scheme and .host show it.
type Client struct {
	Addr   string // the client's IP address (no port)
	Scheme string // "http" or "https"
	Host   string // the host the client asked for
}

// ClientOf works out the client of req, which came over a connection from peer (tls: over
// TLS). Without a trusted peer it is the peer itself, the connection's scheme and the Host
// header: forwarding headers are ignored, whatever they say. From a trusted proxy, the
// forwarded-for list (Forwarded, RFC 7239, when present, else X-Forwarded-For; every line of it,
// in order) is read from the right: each trusted hop is skipped and the first untrusted one is
// the client (a client cannot forge a hop to the right of the proxy that appended its address).
// A hop that is not an address ("unknown", an obfuscated name, garbage) ends the walk: the
// client is then the last trusted hop. The scheme and host are then the ones forwarded for that
// hop (Forwarded's proto= and host= of its element; X-Forwarded-Proto and X-Forwarded-Host,
// aligned with X-Forwarded-For from the right, or their last value), when they are valid.
func (p *Proxies) ClientOf(peer net.Addr, tls bool, req *fasthttp.Request) Client {
	c := Client{Scheme: "http", Host: string(req.Header.Host())}
	if tls {
		c.Scheme = "https"
	}
	addr := peerAddr(peer)
	if addr.IsValid() {
		c.Addr = addr.String()
	} else if peer != nil {
		c.Addr = peer.String()
	}
	if !p.Trusted(addr) {
		return c
	}
	if fw := joinHeader(&req.Header, "Forwarded"); fw != "" {
		elems := parseForwarded(fw)
		i := p.walk(len(elems), func(i int) string { return elems[i]["for"] })
		if i < 0 {
			return c
		}
		a, _ := hopAddr(elems[i]["for"]) // walk returns a hop that is an address
		c.Addr = a.String()
		c.setScheme(elems[i]["proto"])
		c.setHost(elems[i]["host"])
		return c
	}
	xff := splitList(joinHeader(&req.Header, "X-Forwarded-For"))
	if len(xff) == 0 {
		return c
	}
	i := p.walk(len(xff), func(i int) string { return xff[i] })
	if i < 0 {
		return c
	}
	a, _ := hopAddr(xff[i])
	c.Addr = a.String()
	fromRight := len(xff) - 1 - i
	c.setScheme(aligned(splitList(joinHeader(&req.Header, "X-Forwarded-Proto")), fromRight))
	c.setHost(aligned(splitList(joinHeader(&req.Header, "X-Forwarded-Host")), fromRight))
	return c
}

// walk returns the index of the client among n hops (hop(i) is the i-th, the rightmost last):
// the rightmost hop that is not trusted, the leftmost when all are, or the last trusted one
// before a hop that is not an address. -1: none (the rightmost is not an address).
func (p *Proxies) walk(n int, hop func(i int) string) int {
	for i := n - 1; i >= 0; i-- {
		a, ok := hopAddr(hop(i))
		if !ok {
			if i == n-1 {
				return -1
			}
			return i + 1
		}
		if !p.Trusted(a) || i == 0 {
			return i
		}
	}
	return -1
}

// aligned returns the value fromRight places from the right of list, or its last value when
// list is shorter.
func aligned(list []string, fromRight int) string {
	if len(list) == 0 {
		return ""
	}
	if fromRight < len(list) {
		return list[len(list)-1-fromRight]
	}
	return list[len(list)-1]
}

func (c *Client) setScheme(s string) {
	switch s = strings.ToLower(s); s {
	case "http", "https":
		c.Scheme = s
	}
}

func (c *Client) setHost(h string) {
	if h == "" || len(h) > 255 {
		return
	}
	for i := 0; i < len(h); i++ {
		ch := h[i]
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte(`/\?#@"'<>`, ch) >= 0 {
			return
		}
	}
	c.Host = h
}

// peerAddr returns the IP address of a connection's remote end (invalid when it has none).
func peerAddr(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		ip, _ := netip.ParseAddr(a.String())
		return ip.Unmap()
	}
	return ap.Addr().Unmap()
}

// hopAddr parses one forwarded-for hop: an address, with or without a port, IPv6 in brackets
// or not.
func hopAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// joinHeader returns every value of a request header joined with ",", in order.
func joinHeader(h *fasthttp.RequestHeader, name string) string {
	vals := h.PeekAll(name)
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return string(vals[0])
	}
	return string(bytes.Join(vals, []byte(",")))
}

// splitList splits a comma-separated header value, trimming each element.
func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// parseForwarded parses a Forwarded header (RFC 7239): elements separated by ",", each pairs
// separated by ";", names case-insensitive, values tokens or quoted strings. A malformed
// element is kept empty, so that it ends the walk as a hop without an address.
func parseForwarded(s string) []map[string]string {
	var out []map[string]string
	elem := map[string]string{}
	for i := 0; i <= len(s); {
		// One pair: name=value.
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ',' && s[j] != ';' {
			j++
		}
		name := strings.ToLower(strings.TrimSpace(s[i:j]))
		var value string
		if j < len(s) && s[j] == '=' {
			j++
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j < len(s) && s[j] == '"' {
				var b strings.Builder
				j++
				for j < len(s) && s[j] != '"' {
					if s[j] == '\\' && j+1 < len(s) {
						j++
					}
					b.WriteByte(s[j])
					j++
				}
				j++ // the closing quote
				value = b.String()
			} else {
				k := j
				for j < len(s) && s[j] != ',' && s[j] != ';' {
					j++
				}
				value = strings.TrimSpace(s[k:j])
			}
			if _, dup := elem[name]; dup {
				elem[name] = "" // a name given twice: not to be believed
			} else if name != "" {
				elem[name] = value
			}
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j >= len(s) || s[j] == ',' {
			out = append(out, elem)
			elem = map[string]string{}
		}
		i = j + 1
	}
	return out
}
