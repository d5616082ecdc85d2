package fastlua

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	lua "github.com/yuin/gopher-lua"
)

// Outbound HTTP for platform.api: an absolute URL goes out only to Config.AllowedHosts, with the
// script's remaining time as its deadline, through one shared fasthttp client.

// external sends a request to an allowed host.
func (p *platform) external(L *lua.LState, method, target string, payload lua.LValue, opts *lua.LTable) int {
	st := p.lv.st
	m := st.m
	// A fragment is not sent; what a query cannot hold (a raw space) is escaped, as for a
	// relative path.
	target, _, _ = strings.Cut(target, "#")
	if base, q, ok := strings.Cut(target, "?"); ok {
		target = string(appendQuery(append([]byte(base), '?'), q))
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		L.RaiseError("platform.api: %q is not a valid URL", target)
	}
	if !m.hostAllowed(u) {
		L.RaiseError("platform.api: %s is not an allowed host (Config.AllowedHosts)", u.Host)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(target)
	req.Header.SetMethod(method)
	if t := m.cfg.Tracer; t != nil {
		p.lv.x.injectSpan(t, &req.Header) // the calling script's span (traceparent)
	}
	if err := p.fillRequest(L, req, payload, opts); err != nil {
		L.RaiseError("platform.api.%s(%q): %s", strings.ToLower(method), target, err.Error())
	}
	call := "platform.api." + strings.ToLower(method) + "(" + u.Redacted() + ")"
	timeout, byLimit := m.cfg.HTTPTimeout, false
	deadline, limited := st.runDeadline()
	if limited {
		left := time.Until(deadline)
		if left <= 0 {
			st.outOfTime(L, call)
		}
		if left < timeout {
			timeout, byLimit = left, true
		}
	}
	err = m.httpClient.DoTimeout(req, resp, timeout)
	if limited && (st.pastDeadline(deadline) || byLimit && errors.Is(err, fasthttp.ErrTimeout)) {
		st.outOfTime(L, call)
	}
	if err != nil {
		status := 502
		if errors.Is(err, fasthttp.ErrTimeout) {
			status = 504
		}
		t := L.CreateTable(0, 4)
		t.RawSetString("status_code", lua.LNumber(status))
		t.RawSetString("headers", L.CreateTable(0, 0))
		t.RawSetString("content_type", lua.LString("application/json"))
		e := L.CreateTable(0, 2)
		e.RawSetString("code", lua.LNumber(status))
		e.RawSetString("message", lua.LString(fmt.Sprintf("platform.api: %s %s: %v", method, u.Redacted(), err)))
		content := L.CreateTable(0, 1)
		content.RawSetString("error", e)
		t.RawSetString("content", content)
		L.Push(t)
		return 1
	}
	L.Push(st.responseTable(L, resp, m.cfg.MaxJSONSize))
	return 1
}

// hostAllowed reports whether Config.AllowedHosts lists u's host: an entry is a host name (any
// port), a host:port, or *.domain for its subdomains.
func (m *Middleware) hostAllowed(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, a := range m.cfg.AllowedHosts {
		a = strings.ToLower(a)
		if h, p, err := net.SplitHostPort(a); err == nil {
			if h == host && p == port {
				return true
			}
			continue
		}
		if a == host || strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) {
			return true
		}
	}
	return false
}
