package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

type result struct {
	status  int
	body    map[string]any
	raw     string
	headers *fasthttp.ResponseHeader
}

// The quickstart driven over HTTP as its printed curl lines do.
func TestQuickstart(t *testing.T) {
	srv, err := NewServer(Options{DB: filepath.Join(t.TempDir(), "qs.db"), RateLimit: 25, AdminToken: "tok",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.HTTP.Serve(ln)
	defer func() {
		_ = srv.HTTP.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + ln.Addr().String()
	do := func(method, path, body string, headers ...string) result {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(base + path)
		req.Header.SetMethod(method)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		if body != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
		}
		if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		r := result{status: resp.StatusCode(), raw: string(resp.Body()), headers: &resp.Header}
		_ = json.Unmarshal(resp.Body(), &r.body)
		return r
	}
	key := []string{"X-Api-Key", "demo-key"}
	errMsg := func(r result) string {
		e, _ := r.body["error"].(map[string]any)
		return fmt.Sprint(e["message"])
	}

	if r := do("GET", "/api/v2/db/_table/customer", ""); r.status != 401 || !strings.Contains(errMsg(r), "X-Api-Key") {
		t.Fatalf("no key: %d %s", r.status, r.raw)
	}
	if r := do("GET", "/api/v2/db/_table/customer", "", "X-Api-Key", "wrong"); r.status != 401 {
		t.Fatalf("wrong key: %d %s", r.status, r.raw)
	}
	r := do("GET", "/api/v2/db/_table/customer", "", key...)
	if list, _ := r.body["resource"].([]any); r.status != 200 || len(list) != 3 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	r = do("GET", "/api/v2/db/_table/customer/1", "", key...)
	if orders, _ := r.body["orders"].([]any); r.status != 200 || len(orders) != 2 || r.body["name"] != "Ada Lovelace" {
		t.Fatalf("enriched record: %d %s", r.status, r.raw)
	}
	if r := do("GET", "/api/v2/db/_table/customer/3", "", key...); r.raw == "" || !strings.Contains(r.raw, `"orders":[]`) {
		t.Fatalf("a customer without orders: %s", r.raw)
	}
	if r := do("POST", "/api/v2/db/_table/customer", `{"email":"x@example.com"}`, key...); r.status != 400 || !strings.Contains(errMsg(r), "Name field is required") {
		t.Fatalf("invalid record: %d %s", r.status, r.raw)
	}
	r = do("POST", "/api/v2/db/_table/customer", `{"resource":[{"name":"Grace","email":"grace@example.com"},{"name":"Barbara"}]}`, key...)
	created, _ := r.body["resource"].([]any)
	if r.status != 201 || len(created) != 2 || created[0].(map[string]any)["created_at"] == nil {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if r := do("PATCH", "/api/v2/db/_table/customer/1", `{"email":"ada@example.org"}`, key...); r.status != 200 || r.body["email"] != "ada@example.org" {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if r := do("DELETE", "/api/v2/db/_table/customer/3", "", key...); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := do("GET", "/api/v2/db/_table/customer/3", "", key...); r.status != 404 {
		t.Fatalf("deleted record: %d %s", r.status, r.raw)
	}
	// The audit trail is written after the responses, by the queued script.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := do("GET", "/api/v2/db/_table/audit", "", key...)
		list, _ := r.body["resource"].([]any)
		if len(list) == 2 {
			a := list[0].(map[string]any)
			if a["event"] != "db._table.customer.post.queued" || a["user"] != "demo" || a["status"] != 201.0 {
				t.Fatalf("audit record %v", a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit trail: %s", r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The admin API lists the five scripts.
	if r := do("GET", "/api/v2/system/event_script", "", "Authorization", "Bearer tok"); len(r.body["resource"].([]any)) != 5 {
		t.Fatalf("admin list: %s", r.raw)
	}
	// The rate limit: 25 per minute per key, nested calls included.
	var last result
	for i := 0; i < 30; i++ {
		last = do("GET", "/api/v2/db/_table/order", "", "X-Api-Key", "admin-key")
		if last.status == 429 {
			break
		}
		if got := string(last.headers.Peek("X-Ratelimit-Limit")); got != "25" {
			t.Fatalf("X-RateLimit-Limit %q", got)
		}
	}
	if last.status != 429 || !strings.Contains(errMsg(last), "Too Many Requests") {
		t.Fatalf("rate limit: %d %s", last.status, last.raw)
	}
}
