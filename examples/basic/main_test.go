package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The example as a user runs it: a real server on loopback, driven over HTTP.
func TestExample(t *testing.T) {
	srv, mw, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown()
	url := "http://" + ln.Addr().String() + "/api/v2/db/_table/customer"

	do := func(method, body string) (int, string, string) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod(method)
		if body != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
		}
		if err := fasthttp.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek("X-Table"))
	}

	if status, body, _ := do("POST", `{"email":"x@example.com"}`); status != 400 || !strings.Contains(body, "Name field is required") {
		t.Fatalf("invalid record: %d %s", status, body)
	}
	status, body, _ := do("POST", `{"name":"Grace"}`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(body), &rec); err != nil || status != 201 || rec["created_at"] == nil {
		t.Fatalf("valid record: %d %s", status, body)
	}
	status, body, table := do("GET", "")
	if status != 200 || table != "customer" || !strings.Contains(body, `"display":"GRACE"`) {
		t.Fatalf("list: %d %s (x-table %q)", status, body, table)
	}
}
