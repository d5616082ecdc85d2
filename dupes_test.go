package fastlua

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// multiEcho answers with every header line and query argument it received, repeated ones
// included, and sends repeated response headers of its own.
func multiEcho(ctx *fasthttp.RequestCtx) {
	var got struct {
		Headers []string `json:"headers"`
		Query   []string `json:"query"`
	}
	for k, v := range ctx.Request.Header.All() {
		got.Headers = append(got.Headers, strings.ToLower(string(k))+": "+string(v))
	}
	for k, v := range ctx.QueryArgs().All() {
		got.Query = append(got.Query, string(k)+"="+string(v))
	}
	slices.Sort(got.Headers)
	slices.Sort(got.Query)
	ctx.Response.Header.Add("X-Out", "first")
	ctx.Response.Header.Add("X-Out", "second")
	ctx.Response.Header.Add("X-Gone", "1")
	ctx.Response.Header.Add("X-Gone", "2")
	ctx.Response.Header.Add("Set-Cookie", "b=2")
	ctx.Response.Header.Add("Set-Cookie", "c=3")
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(got)
	ctx.SetBody(b)
}

// rawGet sends a GET with the given header lines exactly as written (repeated names, any
// case) and returns the response.
func rawGet(t *testing.T, addr, uri string, lines ...string) *fasthttp.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", uri, addr)
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatal(err)
	}
	return resp
}

type multiSeen struct {
	Headers []string `json:"headers"`
	Query   []string `json:"query"`
}

func (s multiSeen) headers(name string) []string {
	var out []string
	for _, h := range s.Headers {
		if k, v, _ := strings.Cut(h, ": "); k == name {
			out = append(out, v)
		}
	}
	return out
}

func (s multiSeen) params(name string) []string {
	var out []string
	for _, q := range s.Query {
		if k, v, _ := strings.Cut(q, "="); k == name {
			out = append(out, v)
		}
	}
	return out
}

// A header or parameter a script writes reaches the handler exactly as written: every copy
// the client sent goes, whatever the case of its name, by every way of writing it (one name,
// the whole table, nil, a list, platform.api's options), and the same for response headers
// (issue 13 hardening, red-team F2).
func TestWritesReplaceEveryCopy(t *testing.T) {
	dupes := []string{
		"X-Role: user", "X-Role: user", "x-drop: 1", "X-Drop: 2",
		"Cookie: s=user", "Cookie: t=user", "X-List: old", "X-List: old",
	}
	query := "?role=user&role=user&drop=1&drop=2&list=old&list=old&keep=1"
	for _, normalize := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		mw, err := New(Config{Prefix: "/api/v2", Scripts: scriptsFrom(t, "dupes")})
		if err != nil {
			t.Fatal(err)
		}
		srv := &fasthttp.Server{Handler: mw.Wrap(multiEcho), DisableHeaderNamesNormalizing: !normalize}
		go func() { _ = srv.Serve(ln) }()
		addr := ln.Addr().String()
		check := func(what string, got, want []string) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Errorf("normalizing=%v, %s: %q, want %q", normalize, what, got, want)
			}
		}
		for _, path := range []string{"/api/v2/dup/one", "/api/v2/dup/table", "/api/v2/dup/api"} {
			lines := dupes
			if !normalize {
				lines = append(slices.Clone(dupes), "x-role: user", "cookie: u=user", "x-list: old")
			}
			uri := path + query
			if path == "/api/v2/dup/api" {
				uri = path
			}
			resp := rawGet(t, addr, uri, lines...)
			var s multiSeen
			if err := json.Unmarshal(resp.Body(), &s); err != nil {
				t.Fatalf("%s: %d %s", path, resp.StatusCode(), resp.Body())
			}
			check(path+" X-Role", s.headers("x-role"), []string{"admin"})
			if path == "/api/v2/dup/api" {
				check(path+" role", s.params("role"), []string{"admin"})
				check(path+" keep", s.params("keep"), []string{"1"})
				continue
			}
			check(path+" X-Drop", s.headers("x-drop"), nil)
			check(path+" Cookie", s.headers("cookie"), []string{"s=1"})
			check(path+" X-List", s.headers("x-list"), []string{"a", "b"})
			check(path+" role", s.params("role"), []string{"admin"})
			check(path+" drop", s.params("drop"), nil)
			check(path+" list", s.params("list"), []string{"x", "y"})
			if path == "/api/v2/dup/one" {
				check(path+" keep", s.params("keep"), []string{"1"})
			}
			var out, cookies, gone []string
			for k, v := range resp.Header.All() {
				switch strings.ToLower(string(k)) {
				case "x-out":
					out = append(out, string(v))
				case "set-cookie":
					cookies = append(cookies, string(v))
				case "x-gone":
					gone = append(gone, string(v))
				}
			}
			check(path+" response X-Out", out, []string{"one"})
			check(path+" response Set-Cookie", cookies, []string{"a=1"})
			check(path+" response X-Gone", gone, nil)
		}
		_ = srv.Shutdown()
		_ = mw.Close(t.Context())
	}
}
