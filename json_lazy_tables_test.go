package fastlua

import (
	"encoding/json"
	"slices"
	"testing"
)

// A lazily decoded JSON object goes wherever a table goes and is read there as the table the
// eager decoder made: returned as the response, raised with error(), given as platform.api's
// options (red team of the lazy body: Go code reading a table's fields raw saw an empty one).
func TestLazyObjectsWhereTablesGo(t *testing.T) {
	ts := serve(t, Config{Prefix: "/api/v2", Scripts: scriptsFrom(t, "lazytables")}, multiEcho)

	r := ts.do("POST", "/api/v2/lt/ret", `{"status_code":201,"content":{"ok":true},"headers":{"X-A":"1"}}`, "Content-Type", "application/json")
	if r.status != 201 || r.body != `{"ok":true}` || r.headers["x-a"] != "1" {
		t.Errorf("ret: %d %q %s, want 201, X-A 1 and the content", r.status, r.headers["x-a"], r.body)
	}

	r = ts.do("POST", "/api/v2/lt/err", `{"status_code":418,"message":"teapot"}`, "Content-Type", "application/json")
	if r.status != 418 || r.errorMessage(t) != "teapot" {
		t.Errorf("err: %d %s, want 418 teapot", r.status, r.body)
	}

	r = ts.do("POST", "/api/v2/lt/errin", `{"error":{"code":409,"message":"taken"}}`, "Content-Type", "application/json")
	if r.status != 409 || r.errorMessage(t) != "taken" {
		t.Errorf("errin: %d %s, want 409 taken", r.status, r.body)
	}

	r = ts.do("POST", "/api/v2/lt/opts", `{"opts":{"headers":{"X-B":"2"},"parameters":{"q":"3"}}}`, "Content-Type", "application/json")
	var s multiSeen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil || r.status != 200 {
		t.Fatalf("opts: %d %s", r.status, r.body)
	}
	if !slices.Equal(s.headers("x-b"), []string{"2"}) || !slices.Equal(s.params("q"), []string{"3"}) {
		t.Errorf("opts: the call got %q %q, want X-B 2 and q=3", s.Headers, s.Query)
	}
}
