package fastlua

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The event's key/value objects go wherever tables go: as platform.api's options, by
// json.encode, in returned tables, with pairs, next and #, and tostring shows their content
// (issue 15.3).
func TestEventObjectsAsTables(t *testing.T) {
	ts := serve(t, Config{Prefix: "/api/v2", Scripts: scriptsFrom(t, "tables")}, multiEcho)

	// DreamFactory's table-endpoint-obfuscation example, with a repeated parameter.
	r := ts.do("GET", "/api/v2/tables/api?filter=a%3D1&ids=1&ids=2", "")
	var s multiSeen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !slices.Equal(s.params("filter"), []string{"a=1"}) || !slices.Equal(s.params("ids"), []string{"1", "2"}) {
		t.Errorf("the nested call got %q", s.Query)
	}

	// A raw request: the response headers it gets must show both ids.
	resp := rawGet(t, ts.addr, "/api/v2/tables/show?ids=1&ids=2&b=x", "X-Request-Id: tables-1")
	if resp.StatusCode() != 200 {
		t.Fatalf("%d %s", resp.StatusCode(), resp.Body())
	}
	var ids []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "ids") {
			ids = append(ids, string(v))
		}
	}
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Errorf("returned headers = event.request.parameters: ids %q", ids)
	}
	var c struct {
		Names   []string          `json:"names"`
		NextAll []string          `json:"next_all"`
		FirstOK bool              `json:"first_ok"`
		Len     int               `json:"len"`
		Params  map[string]string `json:"params"`
		Encoded map[string]string `json:"encoded"`
		Request struct {
			Method     string            `json:"method"`
			ID         string            `json:"id"`
			Path       string            `json:"path"`
			Headers    map[string]string `json:"headers"`
			Parameters map[string]string `json:"parameters"`
		} `json:"request"`
		Str    string `json:"str"`
		ReqStr string `json:"req_str"`
	}
	if err := json.Unmarshal(resp.Body(), &c); err != nil {
		t.Fatalf("%v: %s", err, resp.Body())
	}
	if !slices.Equal(c.Names, []string{"b", "ids"}) || !slices.Equal(c.NextAll, []string{"b=x", "ids=1,2"}) || !c.FirstOK || c.Len != 0 {
		t.Errorf("pairs/next/#: %+v", c)
	}
	want := map[string]string{"ids": "1,2", "b": "x"}
	if !mapsEqual(c.Params, want) || !mapsEqual(c.Encoded, want) || !mapsEqual(c.Request.Parameters, want) {
		t.Errorf("json.encode: %v %v %v", c.Params, c.Encoded, c.Request.Parameters)
	}
	if c.Request.Method != "GET" || c.Request.ID != "tables-1" || c.Request.Path != "/api/v2/tables/show" || c.Request.Headers["host"] == "" {
		t.Errorf("json.encode(event.request): %+v", c.Request)
	}
	if c.Str != `event.request.parameters {ids = "1,2", b = "x"}` {
		t.Errorf("tostring(parameters) = %q", c.Str)
	}
	if !strings.HasPrefix(c.ReqStr, `event.request {method = "GET", uri = "/api/v2/tables/show?ids=1&ids=2&b=x"`) {
		t.Errorf("tostring(event.request) = %q", c.ReqStr)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
