package fastlua

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// adminServer serves the admin API under /system/event_script and everything else through the
// middleware.
func adminServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	h := &echo{}
	var admin fasthttp.RequestHandler
	ts := serve(t, cfg, func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/system/") {
			admin(ctx)
			return
		}
		h.handle(ctx)
	})
	admin = ts.mw.AdminHandler()
	return ts
}

func TestAdminAPI(t *testing.T) {
	dir := t.TempDir()
	ts := adminServer(t, Config{ScriptDir: dir, AdminToken: "s3cret"})
	auth := []string{"Authorization", "Bearer s3cret"}
	base := "/system/event_script"

	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"X-Fastlua-Admin-Token", "s3cre"}, {"Authorization", "s3cret"}} {
		if r := ts.do("GET", base, "", hdr...); r.status != 401 {
			t.Fatalf("with %v: %d %s", hdr, r.status, r.body)
		}
	}
	if r := ts.do("GET", base, "", "X-Fastlua-Admin-Token", "s3cret"); r.status != 200 || r.body != `{"resource":[]}` {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}

	// Create.
	rec := `{"name":"shop.{item}.get.pre_process","type":"lua","content":"event.response.headers[\"x-admin\"] = \"v1\"",
		"is_active":true,"allow_event_modification":true,"config":{"fail_open":true,"time_limit":"300ms"}}`
	r := ts.do("POST", base, rec, auth...)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/shop/x", ""); r.headers["x-admin"] != "v1" {
		t.Fatalf("the created script did not run: %v", r.headers)
	}
	file := filepath.Join(dir, "shop.{item}.get.pre_process.lua")
	onDisk, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(onDisk), "-- fastlua: fail_open = true") || !strings.Contains(string(onDisk), "time_limit = 300ms") {
		t.Fatalf("the file: %v\n%s", err, onDisk)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// Get one, list.
	r = ts.do("GET", base+"/shop.{item}.get.pre_process", "", auth...)
	var got map[string]any
	_ = json.Unmarshal([]byte(r.body), &got)
	cfg, _ := got["config"].(map[string]any)
	if r.status != 200 || got["content"] != `event.response.headers["x-admin"] = "v1"` || got["type"] != "lua" ||
		got["is_active"] != true || cfg["fail_open"] != true || cfg["time_limit"] != "300ms" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", base, "", auth...); !strings.Contains(r.body, `"name":"shop.{item}.get.pre_process"`) {
		t.Fatalf("list: %s", r.body)
	}

	// Patch: deactivate; the content stays.
	if r := ts.do("PATCH", base+"/shop.{item}.get.pre_process", `{"is_active":false}`, auth...); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/shop/x", ""); r.headers["x-admin"] != "" {
		t.Fatal("a deactivated script ran")
	}
	if sc, _ := ts.mw.Script("shop.{item}.get.pre_process"); !sc.Disabled || !strings.Contains(sc.Source, `"v1"`) || !sc.FailOpen {
		t.Fatalf("after patch: %+v", sc)
	}

	// Bad input changes nothing.
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", base, `{"name":"shop.x.get.pre_process","content":"local = 1"}`, "line 1"},
		{"POST", base, `not json`, "not a JSON object"},
		{"POST", base, `{"name":"shop.x.get.pre_process"}`, "name and content are required"},
		{"POST", base, `{"name":"shop.x","content":""}`, "invalid event pattern"},
		{"POST", base, `{"name":"shop.x.get.pre_process","type":"php","content":""}`, "not supported"},
		{"POST", base, `{"name":"shop.x.get.pre_process","content":"","config":{"time_limit":"soon"}}`, "time_limit"},
		{"POST", base, `{"name":"shop.x.get.pre_process","content":"","config":{"time_limit":"none"}}`, "Config.MaxTimeLimit"},
		{"POST", base, `{"name":"shop.x.get.pre_process","content":"","config":{"time_limit":"1000h"}}`, "at most 30s"},
		{"POST", base, `{"name":"shop.x\u0000y.get.pre_process","content":""}`, "control character"},
		{"POST", base, `{"name":"shop.` + strings.Repeat("x", 300) + `.get.pre_process","content":""}`, "at most 251"},
		{"POST", base, `{"resource":[{"name":"a.b.get.pre_process","content":"x = 1"},{"name":"a.c.get.pre_process","content":"end"}]}`, "does not compile"},
		{"POST", base, `{"resource":[{"name":"a.b.get.pre_process","content":"x = 1"},{"name":"a.b.GET.pre_process","content":"y = 1"}]}`, "given twice"},
		{"PATCH", base + "/shop.{item}.get.pre_process", `{"content":"if then"}`, "does not compile"},
		{"PATCH", base + "/shop.{item}.get.pre_process", `{"is_active":"yes"}`, "not a valid record"},
		{"PATCH", base + "/nope.x.get.pre_process", `{"is_active":true}`, "no script"},
		{"DELETE", base + "/nope.x.get.pre_process", ``, "no script"},
		{"PUT", base, `{}`, "not supported"},
	} {
		before, _ := os.ReadDir(dir)
		r := ts.do(c.method, c.path, c.body, auth...)
		if r.status < 400 || !strings.Contains(r.errorMessage(t), c.want) {
			t.Errorf("%s %s %s: %d %s, want %q", c.method, c.path, c.body, r.status, r.body, c.want)
		}
		after, _ := os.ReadDir(dir)
		if len(after) != len(before) || len(ts.mw.Scripts()) != 1 {
			t.Errorf("%s %s %s changed something", c.method, c.path, c.body)
		}
	}
	if sc, _ := ts.mw.Script("shop.{item}.get.pre_process"); !strings.Contains(sc.Source, `"v1"`) {
		t.Fatal("a refused patch changed the script")
	}

	// A batch, then a restart over the same directory keeps everything.
	batch := `{"resource":[{"name":"b.one.get.post_process","content":"event.response.headers[\"x-b\"] = \"1\""},
		{"name":"b.two.get.post_process","content":"event.response.headers[\"x-b\"] = \"2\"","allow_event_modification":false}]}`
	if r := ts.do("POST", base, batch, auth...); r.status != 201 || !strings.Contains(r.body, `"resource"`) {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	again, err := New(Config{ScriptDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(t.Context())
	if n := len(again.Scripts()); n != 3 {
		t.Fatalf("after a restart %d scripts", n)
	}
	if sc, _ := again.Script("b.two.get.post_process"); !sc.ReadOnly {
		t.Fatal("a setting was lost across the restart")
	}
	if sc, _ := again.Script("shop.{item}.get.pre_process"); !sc.Disabled {
		t.Fatal("is_active = false was lost across the restart")
	}

	// Delete removes the file too.
	if r := ts.do("DELETE", base+"/b.one.get.post_process", "", auth...); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.one.get.post_process.lua")); !os.IsNotExist(err) {
		t.Fatal("the deleted script's file is still there")
	}
	if r := ts.do("GET", "/b/one", ""); r.headers["x-b"] != "" {
		t.Fatal("a deleted script ran")
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	ts := adminServer(t, Config{})
	if r := ts.do("GET", "/system/event_script", "", "Authorization", "Bearer "); r.status != 401 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// dirState is every name under dir with its type and content, to check that nothing on disk
// changed.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link " + target
			return err
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			out[rel] = "file " + string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// An admin change whose files cannot all be written changes nothing: not the files (a replaced
// one is put back, a new one removed, no temporary file left), not the running scripts, even
// after the watcher has read the directory again.
func TestAdminAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tx.a.get.pre_process.lua", keyScript("a"))
	writeFile(t, dir, "tx.d.get.pre_process.lua", keyScript("a"))
	ts := adminServer(t, Config{ScriptDir: dir, AdminToken: "s3cret"})
	auth := []string{"Authorization", "Bearer s3cret"}
	base := "/system/event_script"
	unchanged := func(what string, files map[string]string, scripts []Script) {
		t.Helper()
		if after := dirState(t, dir); !maps.Equal(after, files) {
			t.Fatalf("%s changed the directory:\nbefore %v\nafter  %v", what, files, after)
		}
		ts.mw.watcher.sync() // what the watcher would install from the directory now
		if after := ts.mw.Scripts(); !slices.Equal(after, scripts) {
			t.Fatalf("%s changed the scripts:\nbefore %+v\nafter  %+v", what, scripts, after)
		}
		for _, p := range []string{"/tx/a", "/tx/d"} {
			if r := ts.do("GET", p, ""); r.status != 401 {
				t.Fatalf("%s: %s without a key: %d", what, p, r.status)
			}
			if r := ts.do("GET", p, "", "X-Key", "a"); r.status != 200 {
				t.Fatalf("%s: %s with the key: %d", what, p, r.status)
			}
		}
	}

	// The third record's file cannot be written: a directory has its name.
	blocked := filepath.Join(dir, "tx.b.get.pre_process.lua")
	if err := os.MkdirAll(filepath.Join(blocked, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	ts.mw.watcher.sync()
	files, scripts := dirState(t, dir), ts.mw.Scripts()
	rec := func(name, src string) string {
		b, _ := json.Marshal(map[string]string{"name": name, "content": src})
		return string(b)
	}
	batch := `{"resource":[` + rec("tx.a.get.pre_process", "-- replaced") + "," + rec("tx.c.get.pre_process", "-- new") + "," +
		rec("tx.b.get.pre_process", "-- blocked") + "]}"
	if r := ts.do("POST", base, batch, auth...); r.status != 500 || !strings.Contains(r.errorMessage(t), "tx.b.get.pre_process.lua") {
		t.Fatalf("a batch with a file that cannot be written: %d %s", r.status, r.body)
	}
	unchanged("the failed batch", files, scripts)

	// A PATCH and a DELETE whose file cannot be written or removed.
	resume := pauseReload(ts)
	target := filepath.Join(dir, "tx.d.get.pre_process.lua")
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	resume()
	ts.mw.watcher.sync() // the name is a directory now: the running version stays
	files, scripts = dirState(t, dir), ts.mw.Scripts()
	if r := ts.do("PATCH", base+"/tx.d.get.pre_process", `{"content":"-- patched"}`, auth...); r.status != 500 {
		t.Fatalf("a PATCH whose file cannot be written: %d %s", r.status, r.body)
	}
	unchanged("the failed PATCH", files, scripts)
	if r := ts.do("DELETE", base+"/tx.d.get.pre_process", "", auth...); r.status != 500 {
		t.Fatalf("a DELETE whose file cannot be removed: %d %s", r.status, r.body)
	}
	unchanged("the failed DELETE", files, scripts)

	// Without the obstacles the same batch is applied whole.
	if err := os.RemoveAll(blocked); err != nil {
		t.Fatal(err)
	}
	if r := ts.do("POST", base, batch, auth...); r.status != 201 {
		t.Fatalf("the batch: %d %s", r.status, r.body)
	}
	for _, n := range []string{"a", "b", "c"} {
		if b, err := os.ReadFile(filepath.Join(dir, "tx."+n+".get.pre_process.lua")); err != nil || !strings.HasPrefix(string(b), "-- ") {
			t.Fatalf("tx.%s: %v %q", n, err, b)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// Two admins changing different fields of one script at once both win: a PATCH reads, changes
// and installs the script whole, never interleaved with another (red-team finding: one change
// in five was lost when a large content PATCH raced an is_active PATCH).
func TestAdminConcurrentPatches(t *testing.T) {
	ts := adminServer(t, Config{ScriptDir: t.TempDir(), AdminToken: "s3cret"})
	auth := []string{"Authorization", "Bearer s3cret"}
	base := "/system/event_script/race.x.get.pre_process"
	big := strings.Repeat("a = 1\n", 150000) // slow to compile: the other PATCH comes meanwhile
	for i := 0; i < 10; i++ {
		src, _ := json.Marshal(map[string]any{"content": "local v = 1", "is_active": true})
		if r := ts.do("POST", base, string(src), auth...); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		content, _ := json.Marshal(map[string]any{"content": big + "local v = 2"})
		done := make(chan response, 2)
		go func() { done <- ts.do("PATCH", base, string(content), auth...) }()
		go func() {
			time.Sleep(time.Millisecond) // most often while the first compiles (the outcome must not depend on it)
			done <- ts.do("PATCH", base, `{"is_active":false}`, auth...)
		}()
		for range 2 {
			if r := <-done; r.status != 200 {
				t.Fatalf("patch: %d %s", r.status, r.body)
			}
		}
		sc, ok := ts.mw.Script("race.x.get.pre_process")
		if !ok || !sc.Disabled || !strings.Contains(sc.Source, "local v = 2") {
			t.Fatalf("round %d: a change was lost: disabled %v, new content %v", i, sc.Disabled, strings.Contains(sc.Source, "local v = 2"))
		}
	}
}
