package fastlua

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestScriptFileHeader(t *testing.T) {
	src := "-- A script.\n\n-- fastlua: is_active = false\n-- fastlua: allow_event_modification = false\n" +
		"-- fastlua: fail_open = true\n-- fastlua: time_limit = 250ms\nlocal x = 1\n-- fastlua: is_active = true\n"
	sc, err := ParseScriptFile("dir/db._table.{t}.get.pre_process.lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Script{Name: "db._table.{t}.get.pre_process", Source: src, Disabled: true, ReadOnly: true, FailOpen: true,
		TimeLimit: 250 * time.Millisecond, File: "dir/db._table.{t}.get.pre_process.lua"}
	if sc != want {
		t.Fatalf("got %+v\nwant %+v", sc, want)
	}
	// Format then parse gives the same settings back, and the source without the old header.
	again, err := ParseScriptFile(sc.Name+".lua", FormatScriptFile(sc))
	if err != nil || again.Disabled != sc.Disabled || again.ReadOnly != sc.ReadOnly || again.FailOpen != sc.FailOpen || again.TimeLimit != sc.TimeLimit {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
	if strings.Count(string(FormatScriptFile(sc)), "fastlua:") != 5 { // 4 settings + the one after the code
		t.Fatalf("directives were duplicated:\n%s", FormatScriptFile(sc))
	}
	if none, _ := ParseScriptFile("a.b.get.queued.lua", []byte("-- fastlua: time_limit = none\n")); none.TimeLimit != -1 {
		t.Fatal("time_limit = none")
	}
	for _, c := range []struct{ src, want string }{
		{"-- fastlua: is_active = maybe\n", "line 1: is_active must be true or false"},
		{"\n-- fastlua: colour = blue\n", "line 2: unknown setting \"colour\""},
		{"-- fastlua: time_limit = soon\n", "time_limit must be a duration"},
		{"-- fastlua: fail_open\n", "a directive is -- fastlua: key = value"},
	} {
		_, err := ParseScriptFile("x/a.b.get.pre_process.lua", []byte(c.src))
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || ce.File != "x/a.b.get.pre_process.lua" {
			t.Errorf("%q: %v, want %q", c.src, err, c.want)
		}
	}
}

func TestScriptFS(t *testing.T) {
	fsys := fstest.MapFS{
		"fs.x.get.pre_process.lua":     {Data: []byte(`event.response.headers["x-fs"] = "1"`)},
		"README.md":                    {Data: []byte("not a script")},
		".hidden.lua":                  {Data: []byte("syntax error here")},
		"sub/fs.y.get.pre_process.lua": {Data: []byte(`error("subdirectories are not read")`)},
	}
	h := &echo{}
	ts := serve(t, Config{ScriptFS: fsys}, h.handle)
	if r := ts.do("GET", "/fs/x", ""); r.headers["x-fs"] != "1" {
		t.Fatalf("%v", r.headers)
	}
	if n := len(ts.mw.Scripts()); n != 1 {
		t.Fatalf("%d scripts", n)
	}
	fsys["broken.x.get.pre_process.lua"] = &fstest.MapFile{Data: []byte("local x = \n\nend")}
	_, err := New(Config{ScriptFS: fsys})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.File != "broken.x.get.pre_process.lua" || ce.Line != 3 {
		t.Fatalf("a file that does not compile: %v", err)
	}
}

func writeFile(t *testing.T, dir, name, src string) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// Scripts change on disk while concurrent requests run: no request fails, each change is live
// within a second, and no request that starts after a change has been seen sees the old
// version.
func TestHotReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	version := func(v string) string { return fmt.Sprintf("event.response.headers[\"x-v\"] = %q\n", v) }
	writeFile(t, dir, "hot.x.get.post_process.lua", version("1"))
	h := &echo{}
	ts := serve(t, Config{ScriptDir: dir}, h.handle)

	type obs struct {
		start, end time.Time
		v          string
	}
	var mu sync.Mutex
	var seen []obs
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				r := ts.do("GET", "/hot/x", "")
				mu.Lock()
				if r.status != 200 {
					failures = append(failures, fmt.Sprintf("%d %s", r.status, r.body))
				}
				seen = append(seen, obs{start, time.Now(), r.headers["x-v"]})
				mu.Unlock()
			}
		}()
	}
	// waitVersion waits for a request that saw v and returns when the first one ended: the
	// new version was installed before then.
	waitVersion := func(v string, changed time.Time) time.Time {
		t.Helper()
		for {
			mu.Lock()
			var first time.Time
			for _, o := range seen {
				if o.v == v && o.start.After(changed) && (first.IsZero() || o.end.Before(first)) {
					first = o.end
				}
			}
			mu.Unlock()
			if !first.IsZero() {
				if d := first.Sub(changed); d > time.Second {
					t.Errorf("version %q took %v to be seen", v, d)
				}
				return first
			}
			if time.Since(changed) > 3*time.Second {
				t.Fatalf("version %q never seen", v)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	type change struct {
		v  string
		do func()
	}
	changes := []change{
		{"2", func() { writeFile(t, dir, "hot.x.get.post_process.lua", version("2")) }}, // replaced by rename
		{"3", func() {
			_ = os.WriteFile(filepath.Join(dir, "hot.x.get.post_process.lua"), []byte(version("3")), 0o644)
		}}, // written in place
		{"", func() { _ = os.Remove(filepath.Join(dir, "hot.x.get.post_process.lua")) }},    // removed
		{"4", func() { writeFile(t, dir, "hot.{any}.get.post_process.lua", version("4")) }}, // added
		{"5", func() {
			_ = os.Rename(filepath.Join(dir, "hot.{any}.get.post_process.lua"), filepath.Join(dir, "hot.{y}.get.post_process.lua"))
			_ = os.WriteFile(filepath.Join(dir, "hot.{y}.get.post_process.lua"), []byte(version("5")), 0o644)
		}}, // renamed and changed
	}
	type window struct {
		changed, live time.Time // when the change was made; when a request first saw it
		v             string
	}
	var windows []window
	time.Sleep(50 * time.Millisecond)
	for _, c := range changes {
		changed := time.Now()
		c.do()
		windows = append(windows, window{changed, waitVersion(c.v, changed), c.v})
		time.Sleep(100 * time.Millisecond)
	}
	brokenAt := time.Now()
	// A file that does not compile: the running version stays, the error names the line.
	writeFile(t, dir, "hot.{y}.get.post_process.lua", "local = 1\n")
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d requests failed during reloads; first: %s", len(failures), failures[0])
	}
	// Every request that started after one that saw a version had ended, and before the next
	// change was made, saw that version (the snapshot swap is atomic).
	for i, w := range windows {
		end := brokenAt
		if i+1 < len(windows) {
			end = windows[i+1].changed
		}
		for _, o := range seen {
			if o.start.After(w.live) && o.start.Before(end) && o.v != w.v {
				t.Fatalf("a request started %v after version %q was live saw %q", o.start.Sub(w.live), w.v, o.v)
			}
		}
	}
	mu.Lock()
	last := seen[len(seen)-1].v
	mu.Unlock()
	if last != "5" {
		t.Fatalf("after a broken file the running version is %q, want 5", last)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "hot.{y}.get.post_process.lua does not compile: line 1") {
		t.Fatalf("the broken file was not reported with its line:\n%s", logs)
	}
}

// growingFS is a file system whose file grows each time it is read, as one a writer is still
// appending to.
type growingFS struct {
	fstest.MapFS
	name string
}

func (g growingFS) ReadFile(name string) ([]byte, error) {
	b, err := g.MapFS.ReadFile(name)
	if name == g.name {
		g.MapFS[name].Data = append(g.MapFS[name].Data, "-- more\n"...)
	}
	return b, err
}

// A name that is not a usable file is an error, never a script left out or an empty one
// installed: New refuses to start on it.
func TestLoadScriptsRefusesUnusableFiles(t *testing.T) {
	for _, c := range []struct {
		what string
		fsys fs.FS
		want string
	}{
		{"a directory", fstest.MapFS{"d.x.get.pre_process.lua/inner": {Data: []byte("x")}}, "d.x.get.pre_process.lua: it is a directory"},
		{"an empty file", fstest.MapFS{"e.x.get.pre_process.lua": {}}, "e.x.get.pre_process.lua is empty"},
		{"a file being written", growingFS{fstest.MapFS{"g.x.get.pre_process.lua": {Data: []byte("local x = 1\n")}}, "g.x.get.pre_process.lua"}, "it changed while it was read"},
		{"a named pipe", fstest.MapFS{"p.x.get.pre_process.lua": {Mode: fs.ModeNamedPipe}}, "not a regular file"},
	} {
		if _, err := LoadScripts(c.fsys, "."); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.what, err, c.want)
		}
		if _, err := New(Config{ScriptFS: c.fsys}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New with %s: %v, want %q", c.what, err, c.want)
		}
	}
	// A file larger than Config.MaxScriptSize is refused before it is read, naming the limit.
	dir := t.TempDir()
	writeFile(t, dir, "big.x.get.pre_process.lua", strings.Repeat("-- padding\n", 100))
	logs := &syncBuffer{}
	m, err := New(Config{MaxScriptSize: 100, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(t.Context())
	newDirWatcher(m, dir).sync()
	if !strings.Contains(logs.String(), "more than the limit of 100 (Config.MaxScriptSize)") {
		t.Fatalf("%s", logs)
	}
}

// New reports every script that fails, at once, each a *CompileError naming its file; a
// *_test.lua file is not a script; files that look like scripts but are skipped are logged
// with the reason.
func TestNewReportsEverything(t *testing.T) {
	fsys := fstest.MapFS{
		"a.get.pre_process.lua":   {Data: []byte("if then\n")},
		"b.get.pre_process.lua":   {Data: []byte("-- fastlua: colour = red\nreturn 1\n")},
		"c.get.pre_process.lua":   {Data: []byte("local x = (\n")},
		"bad-name.lua":            {Data: []byte("return 1\n")},
		"ok.get.pre_process.lua":  {Data: []byte("return 1\n")},
		"ok_test.lua":             {Data: []byte("this is not a script at all (\n")},
		"d.get.pre_process.LUA":   {Data: []byte("return 1\n")},
		"e.get.post_process":      {Data: []byte("return 1\n")},
		"e.get.post_process.txt~": {Data: []byte("return 1\n")},
	}
	logs := &syncBuffer{}
	_, err := New(Config{ScriptFS: fsys, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var se *ScriptsError
	if !errors.As(err, &se) {
		t.Fatalf("New: %v, want a *ScriptsError", err)
	}
	files := map[string]int{}
	for _, e := range se.Errors {
		var ce *CompileError
		if !errors.As(e, &ce) {
			t.Errorf("%v is not a *CompileError", e)
			continue
		}
		files[ce.File] = ce.Line
	}
	want := map[string]int{"a.get.pre_process.lua": 1, "b.get.pre_process.lua": 1, "c.get.pre_process.lua": 2, "bad-name.lua": 0}
	if !maps.Equal(files, want) {
		t.Errorf("errors for %v, want %v\n%v", files, want, err)
	}
	for _, s := range []string{`file=d.get.pre_process.LUA reason="the extension is \".LUA\"`, `file=e.get.post_process reason="it has no .lua extension`} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("the log lacks %s:\n%s", s, logs)
		}
	}
	if strings.Contains(logs.String(), "ok_test.lua") || strings.Contains(err.Error(), "ok_test.lua") {
		t.Errorf("a test file was read as a script")
	}
}

// An FS whose scripts are all in one subdirectory is an error saying to use fs.Sub; a missing
// ScriptDir is an error naming it.
func TestScriptLocationMistakes(t *testing.T) {
	_, err := New(Config{ScriptFS: fstest.MapFS{"scripts/a.get.pre_process.lua": {Data: []byte("return 1")}}})
	if err == nil || !strings.Contains(err.Error(), `use fs.Sub(fsys, "scripts")`) {
		t.Errorf("scripts in a subdirectory: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "nowhere")
	_, err = New(Config{ScriptDir: dir})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a missing ScriptDir: %v", err)
	}
}
