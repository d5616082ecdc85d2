package fastlua

import (
	"strings"
	"testing"
)

// Reading a field that event, event.request or event.response does not have is an error that
// suggests the nearest; every field of the fixed sets reads without one.
func TestUnknownFields(t *testing.T) {
	e := &echo{}
	ts := serve(t, Config{Scripts: []Script{
		luaFile(t, "bad.get.pre_process", "fields/misspelled.lua"),
		luaFile(t, "good.get.pre_process", "fields/known.lua"),
		{Name: "ev.get.pre_process", Source: `local x = event.reqest`},
		{Name: "resp.get.post_process", Source: `local x = event.response.status`},
		{Name: "write.get.pre_process", Source: `event.request.body = "x"`},
	}}, e.handle)
	for _, c := range []struct{ path, want string }{
		{"/bad", `line 2: event.request has no field "body" (did you mean "content" or "payload"?)`},
		{"/ev", `event has no field "reqest" (did you mean "request"?)`},
		{"/resp", `event.response has no field "status" (did you mean "status_code"?)`},
		{"/write", `event.request has no field "body" (did you mean "content" or "payload"?)`},
	} {
		r := ts.do("GET", c.path, "")
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, c.want) {
			t.Errorf("GET %s: %d %q, want 500 with %q", c.path, r.status, msg, c.want)
		}
	}
	if r := ts.do("GET", "/good", ""); r.status != 200 || r.headers["x-ok"] != "yes" {
		t.Errorf("reading every known field: %d %s", r.status, r.body)
	}
}
