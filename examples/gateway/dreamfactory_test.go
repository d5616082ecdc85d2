package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// dfAPI is a DreamFactory-shaped upstream: the tables the ported examples read, answering 400
// (as DreamFactory does) to a filter it cannot parse, and recording what it was sent.
type dfAPI struct {
	mu     sync.Mutex
	raw    map[string]string // path -> the request line's target as sent
	query  map[string]url.Values
	emails []string
}

func (d *dfAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.raw[r.URL.Path] = r.RequestURI
	d.query[r.URL.Path] = r.URL.Query()
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/v2/db/_table/contact":
		io.WriteString(w, `{"resource":[{"id":1,"contact_info_by_contact_id":[{"id":10},{"id":11}]},{"id":2,"contact_info_by_contact_id":[{"id":12},{"id":13}]}]}`)
	case "/api/v2/db/_table/contact_info":
		if q.Get("fields") != "id" || q.Get("filter") != "(info_type='home')" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":400,"message":"fields and filter expected"}}`)
			return
		}
		io.WriteString(w, `{"resource":[{"id":10},{"id":12}]}`)
	case "/api/v2/db/_table/TransactionHistory":
		if strings.ContainsAny(r.RequestURI, " <") || q.Get("filter") != "(timestamp<2026-12-02 02:25:00)" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":400,"message":"Invalid filter"}}`)
			return
		}
		io.WriteString(w, `{"resource":[{"id":1},{"id":2},{"id":3}]}`)
	case "/api/v2/email":
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.emails = append(d.emails, string(b))
		d.mu.Unlock()
		io.WriteString(w, `{"count":1}`)
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":404,"message":"not found"}}`)
	}
}

// DreamFactory's own example scripts (filter_related_records, usage_alert), ported to Lua as a
// user would, through the gateway in front of a DreamFactory-shaped API: the options.parameters
// of platform.api (fields, filter) reach the upstream, and a path with a raw space in its query
// reaches it encoded (issue 15.4, 15.5).
func TestGatewayDreamFactoryExamples(t *testing.T) {
	df := &dfAPI{raw: map[string]string{}, query: map[string]url.Values{}}
	up := httptest.NewServer(df)
	defer up.Close()
	addr := startGateway(t, buildGateway(t), "-upstream", up.URL, "-scripts", "testdata/dreamfactory", "-prefix", "/api/v2")

	status, body := rawGet(t, addr, "/api/v2/db/_table/contact?related=contact_info_by_contact_id&contact_info_by_contact_id_filter=%28info_type%3D%27home%27%29")
	var v struct {
		Resource []struct {
			ID      int `json:"id"`
			Related []struct {
				ID int `json:"id"`
			} `json:"contact_info_by_contact_id"`
		} `json:"resource"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || status != 200 || len(v.Resource) != 2 ||
		len(v.Resource[0].Related) != 1 || v.Resource[0].Related[0].ID != 10 ||
		len(v.Resource[1].Related) != 1 || v.Resource[1].Related[0].ID != 12 {
		t.Fatalf("filter_related_records: %d %s (%v)", status, body, err)
	}
	df.mu.Lock()
	q := df.query["/api/v2/db/_table/contact_info"]
	df.mu.Unlock()
	if q.Get("fields") != "id" || q.Get("filter") != "(info_type='home')" {
		t.Errorf("the related call's parameters reached the upstream as %v", q)
	}

	status, body = rawGet(t, addr, "/api/v2/usage/check")
	if status != 200 || body != `{"calls":3,"status":200}` {
		t.Errorf("usage_alert: %d %s", status, body)
	}
	df.mu.Lock()
	raw, emails := df.raw["/api/v2/db/_table/TransactionHistory"], df.emails
	df.mu.Unlock()
	if strings.ContainsAny(raw, " <") {
		t.Errorf("the usage-alert path reached the wire unencoded: %q", raw)
	}
	if len(emails) != 1 || !strings.Contains(emails[0], `"subject":"Usage alert"`) {
		t.Errorf("the alert email: %q", emails)
	}
}
