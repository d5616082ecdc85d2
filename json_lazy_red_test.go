package fastlua

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// firstWins reads key from a JSON object the way a parser that keeps the first copy of a
// duplicate key does.
func firstWins(t *testing.T, body, key string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", body)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if k == key {
			return v
		}
	}
	return nil
}

// A body with a key twice: what a script read is what the handler (or the client) gets, for a
// parser that takes the first copy as for one that takes the last. The object a script read
// is forwarded without the copies it did not see, also by a read-only script; an escaped
// spelling of the key is the same key (red team of the lazy body).
func TestLazyDuplicateKeyReadIsForwarded(t *testing.T) {
	var scripts []Script
	for _, sc := range scriptsFrom(t, "lazyred") {
		parsed, err := ParseScriptFile(sc.Name+".lua", []byte(sc.Source))
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, parsed)
	}
	var e echo
	var respBody, coding string
	ts := serve(t, Config{Scripts: scripts}, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Method()) == "GET" {
			ctx.SetContentType("application/json")
			if coding != "" {
				ctx.Response.Header.Set("Content-Encoding", coding)
				ctx.SetBody(compressAs(coding, []byte(respBody)))
				return
			}
			ctx.SetBodyString(respBody)
			return
		}
		e.handle(ctx)
	})
	for _, body := range []string{
		`{"role":"admin","role":"user"}`,
		`{"role":"admin","\u0072ole":"user"}`,
		`{"role":"admin","x":1,"role":"user"}`,
	} {
		r := ts.do("POST", "/dup/role", body, "Content-Type", "application/json")
		if r.status == 403 {
			continue // refused: what it read was not "user"
		}
		got := e.lastSeen().Body
		if r.status != 200 || firstWins(t, got, "role") != "user" {
			t.Errorf("role %s: %d, the handler got %s: a first-wins parser reads another role than the script", body, r.status, got)
		}
	}
	r := ts.do("POST", "/dup/eager?body="+url.QueryEscape(`{"role":"admin","role":"user"}`), `{}`, "Content-Type", "application/json")
	if got := e.lastSeen().Body; r.status != 200 || firstWins(t, got, "role") != "user" {
		t.Errorf("eager: %d, the handler got %s", r.status, got)
	}
	r = ts.do("POST", "/dup/nested", `{"other":{"a":1,"a":2},"user":{"role":"admin","name":"x","role":"user"}}`, "Content-Type", "application/json")
	if r.status != 200 {
		t.Fatalf("nested: %d %s", r.status, r.body)
	}
	got := e.lastSeen().Body
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got), &top); err != nil {
		t.Fatal(err)
	}
	if firstWins(t, string(top["user"]), "role") != "user" {
		t.Errorf("nested: the handler got %s", got)
	}
	respBody = `{"role":"admin","role":"user"}`
	r = ts.do("GET", "/dup/resp", "")
	if r.status != 200 || firstWins(t, r.body, "role") != "user" {
		t.Errorf("resp: %d %s, a first-wins client reads another role than the script", r.status, r.body)
	}
	coding = "br" // compressed again in its coding
	r = ts.do("GET", "/dup/resp", "")
	if got := string(decompressAs(t, "br", []byte(r.body))); r.status != 200 || r.headers["content-encoding"] != "br" || firstWins(t, got, "role") != "user" {
		t.Errorf("resp, br: %d %q %s", r.status, r.headers["content-encoding"], got)
	}
}

// lazyServe serves body as a JSON response under the post_process script testdata/lazyred/name
// (its file name without .lua), with a time limit of 8 s (below the test client's 10 s).
func lazyServe(t *testing.T, name, body string) *testServer {
	return lazyServeConfig(t, Config{}, name, body)
}

func lazyServeConfig(t *testing.T, cfg Config, name, body string) *testServer {
	sc, err := ParseScriptFile(name+".lua", []byte(luaFile(t, "x", "lazyred/"+name+".lua").Source))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Scripts, cfg.TimeLimit = []Script{sc}, 8*time.Second
	return serve(t, cfg, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(body)
	})
}

// A script that reads every member of a large lazily decoded object (200,000 keys) does as much
// work as the eager decoder's table lookups, not a walk of the members it read before at each
// read (quadratic: minutes, past the time limit). The time limit is generous: the walk took
// far more, the lookups take a small part of it even under -race (red team of the lazy body).
func TestLazyManyKeysRead(t *testing.T) {
	const keys = 200000
	var b strings.Builder
	fmt.Fprintf(&b, `{"n":%d`, keys)
	for i := 1; i <= keys; i++ {
		fmt.Fprintf(&b, `,"k%d":{}`, i)
	}
	b.WriteString("}")
	body := b.String()
	r := lazyServe(t, "many.keys.get.post_process", body).do("GET", "/many/keys", "")
	if r.status != 200 || r.headers["x-found"] != fmt.Sprint(keys) || r.body != body {
		t.Errorf("%d %q %.200s, want 200, %d and the body as it was", r.status, r.headers["x-found"], r.body, keys)
	}
}

// A long string member read 400 times is decoded and charged to the JSON memory budget once,
// as the eager decoder does, not 400 times past Config.MaxJSONExpansion (red team).
func TestLazyMemberReadAgain(t *testing.T) {
	body := `{"s":"` + strings.Repeat("x", 200000) + `","t":1}`
	r := lazyServe(t, "many.reads.get.post_process", body).do("GET", "/many/reads", "")
	if r.status != 200 || r.headers["x-found"] != fmt.Sprint(400*200000) || r.body != body {
		t.Errorf("%d %q %.200s, want 200, %d and the body as it was", r.status, r.headers["x-found"], r.body, 400*200000)
	}
}

// The index of a large object's members, made when a script reads one of them, is charged to
// the JSON memory budget: with Config.MaxJSONExpansion at 2, reading one member of an object of
// 300,000 (an index of tens of MB from a text of 4 MB) fails with the limit's error, as the
// eager decoder does, instead of passing the limit uncounted (red team of the lazy body).
func TestLazyIndexCharged(t *testing.T) {
	const keys = 300000
	var b strings.Builder
	b.WriteString(`{"k0":0`)
	for i := 1; i <= keys; i++ {
		fmt.Fprintf(&b, `,"k%d":0`, i)
	}
	b.WriteString("}")
	r := lazyServeConfig(t, Config{MaxJSONExpansion: 2}, "budget.index.get.post_process", b.String()).do("GET", "/budget/index", "")
	if r.status != 500 || !strings.Contains(r.errorMessage(t), "MaxJSONExpansion") {
		t.Errorf("%d %.300s, want 500 naming Config.MaxJSONExpansion", r.status, r.body)
	}
}

// A body larger than Config.MaxJSONSize that a read-only script only read, with a key twice in
// the object it read: written in normal form without that limit (it is for what scripts make),
// as the eager decoder's normal form is, not refused as a change.
func TestLazyDuplicateKeyLargeBody(t *testing.T) {
	body := `{"role":"admin","role":"user","pad":"` + strings.Repeat("x", 4000) + `"}`
	r := lazyServeConfig(t, Config{MaxJSONSize: 1000}, "dup.resp.get.post_process", body).do("GET", "/dup/resp", "")
	if r.status != 200 || firstWins(t, r.body, "role") != "user" {
		t.Errorf("%d %.300s, want 200 and the role the script read", r.status, r.body)
	}
}
