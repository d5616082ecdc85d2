package fastlua

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyScript refuses (401) every request whose X-Key header is not one of keys.
func keyScript(keys ...string) string {
	var b strings.Builder
	b.WriteString("local allowed = {")
	for _, k := range keys {
		fmt.Fprintf(&b, "[%q] = true, ", k)
	}
	b.WriteString("}\nif not allowed[event.request.headers[\"x-key\"] or \"\"] then\n" +
		"  error({status_code = 401, message = \"a valid key is required\"})\nend\n")
	return b.String()
}

// versionScript sets the X-V response header to v.
func versionScript(v string) string {
	return fmt.Sprintf("event.response.headers[\"x-v\"] = %q\n", v)
}

// pauseReload keeps the watcher of ts from reading its directory until the returned function
// is called, so that several changes are seen as one.
func pauseReload(ts *testServer) func() {
	ts.mw.watcher.mu.Lock()
	return ts.mw.watcher.mu.Unlock
}

// logsAfter returns what ts logged after the first n bytes.
func (ts *testServer) logsAfter(n int) string {
	return ts.logs.String()[n:]
}

// configMap projects files into dir the way the kubelet updates a ConfigMap volume: the files
// go into a new timestamped directory, the links of new names are made (pointing through
// ..data, so they dangle until the swap), a ..data_tmp link to the new directory is renamed over
// ..data, the links of names no longer in the map are removed, then the old directory.
type configMap struct {
	t   *testing.T
	dir string
	n   int
}

func (c *configMap) write(files map[string]string) {
	t := c.t
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	c.n++
	ts := fmt.Sprintf("..2026_12_02_00_00_%02d.123456789", c.n)
	must(os.Mkdir(filepath.Join(c.dir, ts), 0o755))
	for name, src := range files {
		must(os.WriteFile(filepath.Join(c.dir, ts, name), []byte(src), 0o644))
	}
	for name := range files {
		if _, err := os.Lstat(filepath.Join(c.dir, name)); os.IsNotExist(err) {
			must(os.Symlink(filepath.Join("..data", name), filepath.Join(c.dir, name)))
		}
	}
	must(os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")))
	if old != "" {
		entries, err := os.ReadDir(filepath.Join(c.dir, old))
		must(err)
		for _, e := range entries {
			if _, ok := files[e.Name()]; !ok {
				must(os.Remove(filepath.Join(c.dir, e.Name())))
			}
		}
		must(os.RemoveAll(filepath.Join(c.dir, old)))
	}
}

// load sends GET path with the given headers from several goroutines until the returned stop
// is called (or the test ends); stop returns how many requests were sent and the first few that
// did not get 200.
func load(ts *testServer, path string, headers ...string) (stop func() (int, []string)) {
	var mu sync.Mutex
	var failures []string
	var n atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				r := ts.do("GET", path, "", headers...)
				n.Add(1)
				if r.status != 200 {
					mu.Lock()
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("%d %s", r.status, r.body))
					}
					mu.Unlock()
				}
			}
		}()
	}
	var once sync.Once
	stop = func() (int, []string) {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return int(n.Load()), failures
	}
	ts.t.Cleanup(func() { stop() }) // before the server stops, if the test fails first
	return stop
}

// A ConfigMap volume, updated the way the kubelet does it, while requests run: the new
// version serves (a revoked key is refused, a removed script is gone, an added one runs), no
// request fails during the swap, and the dot-directories are not read as scripts.
func TestReloadConfigMap(t *testing.T) {
	dir := t.TempDir()
	cm := &configMap{t: t, dir: dir}
	cm.write(map[string]string{
		"km.{x}.get.pre_process.lua":  keyScript("a", "b"),
		"km.{x}.get.post_process.lua": versionScript("1"),
		"km.gone.get.pre_process.lua": `error({status_code = 403, message = "gone"})`,
	})
	h := &echo{}
	ts := serve(t, Config{ScriptDir: dir}, h.handle)
	if n := len(ts.mw.Scripts()); n != 3 {
		t.Fatalf("%d scripts installed, want 3: %v", n, ts.mw.Scripts())
	}
	if r := ts.do("GET", "/km/x", "", "X-Key", "a"); r.status != 200 || r.headers["x-v"] != "1" {
		t.Fatalf("version 1: %d %v", r.status, r.headers)
	}
	if r := ts.do("GET", "/km/gone", "", "X-Key", "b"); r.status != 403 {
		t.Fatalf("km.gone: %d", r.status)
	}

	for v, keys := range [][]string{{"b", "c"}, {"b", "d"}} {
		stop := load(ts, "/km/x", "X-Key", "b") // b is valid in every version
		swapped := time.Now()
		version := fmt.Sprint(v + 2)
		cm.write(map[string]string{
			"km.{x}.get.pre_process.lua":  keyScript(keys...),
			"km.{x}.get.post_process.lua": versionScript(version),
			"km.new.get.post_process.lua": `event.response.headers["x-new"] = "1"`,
		})
		revoked := []string{"a", "c"}[v]
		waitFor(t, "version "+version, func() bool {
			return ts.do("GET", "/km/x", "", "X-Key", revoked).status == 401 &&
				ts.do("GET", "/km/x", "", "X-Key", keys[1]).headers["x-v"] == version &&
				ts.do("GET", "/km/gone", "", "X-Key", "b").status == 200 &&
				ts.do("GET", "/km/new", "", "X-Key", "b").headers["x-new"] == "1"
		})
		t.Logf("version %s served %v after the swap", version, time.Since(swapped))
		n, failures := stop()
		if len(failures) > 0 {
			t.Fatalf("%d requests failed during the swap to version %s; first: %v", len(failures), version, failures)
		}
		if n == 0 {
			t.Fatal("no request was sent during the swap")
		}
	}
	var names []string
	for _, sc := range ts.mw.Scripts() {
		names = append(names, sc.Name)
	}
	if want := []string{"km.new.get.post_process", "km.{x}.get.post_process", "km.{x}.get.pre_process"}; !slices.Equal(names, want) {
		t.Fatalf("installed %v, want %v", names, want)
	}
}

// A file that is there but cannot be read, or is empty, keeps the running version of its
// script (an auth script keeps refusing), is logged once and counted; a file that is gone
// removes its script, with a log line.
func TestReloadUnreadableFileKeepsScript(t *testing.T) {
	dir := t.TempDir()
	name := "un.{x}.get.pre_process.lua"
	file := filepath.Join(dir, name)
	writeFile(t, dir, name, keyScript("a"))
	h := &echo{}
	ts := serve(t, Config{ScriptDir: dir}, h.handle)
	refuses := func(what, key string) {
		t.Helper()
		if r := ts.do("GET", "/un/x", ""); r.status != 401 {
			t.Fatalf("%s: a request without a key got %d %s", what, r.status, r.body)
		}
		if r := ts.do("GET", "/un/x", "", "X-Key", key); r.status != 200 {
			t.Fatalf("%s: a request with the key %q got %d %s", what, key, r.status, r.body)
		}
	}
	refuses("installed", "a")
	replace := func(make func(tmp string) error) func() {
		return func() {
			tmp := filepath.Join(dir, ".new")
			if err := make(tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		do   func()
		want string
	}{
		{"a symlink loop", replace(func(tmp string) error { return os.Symlink(name, tmp) }), "too many levels of symbolic links"},
		{"a dangling symlink", replace(func(tmp string) error { return os.Symlink("nowhere.lua", tmp) }), "no such file"},
		{"a symlink to a directory", replace(func(tmp string) error { return os.Symlink("sub", tmp) }), "is a directory"},
		{"an empty file", func() {
			defer pauseReload(ts)() // the name is never missing
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is empty"},
		{"a directory", func() {
			defer pauseReload(ts)()
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(file, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
	} {
		offset := len(ts.logs.String())
		rejected := ts.mw.ScriptDirStats().Rejected
		c.do()
		waitFor(t, "the log line for "+c.what, func() bool {
			return strings.Contains(ts.logsAfter(offset), c.want)
		})
		refuses(c.what, "a")
		if logs := ts.logsAfter(offset); !strings.Contains(logs, name) || !strings.Contains(logs, "the running version stays") {
			t.Fatalf("%s: the log does not name the file and say the running version stays:\n%s", c.what, logs)
		}
		if got := ts.mw.ScriptDirStats().Rejected; got != rejected+1 {
			t.Fatalf("%s: ScriptDirStats().Rejected went from %d to %d, want +1", c.what, rejected, got)
		}
	}

	// Readable again: the new version is installed.
	offset := len(ts.logs.String())
	resume := pauseReload(ts)
	if err := os.Remove(file); err != nil { // the directory
		t.Fatal(err)
	}
	writeFile(t, dir, name, keyScript("b"))
	resume()
	waitFor(t, "the readable file", func() bool { return ts.do("GET", "/un/x", "", "X-Key", "b").status == 200 })
	refuses("readable again", "b")

	// Renamed away (to a name that is not a script's): the script goes, and the log says so.
	if err := os.Rename(file, file+".disabled"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removal", func() bool { return ts.do("GET", "/un/x", "").status == 200 })
	if logs := ts.logsAfter(offset); !strings.Contains(logs, "un.{x}.get.pre_process") || !strings.Contains(logs, "removed") {
		t.Fatalf("the removal was not logged by name:\n%s", logs)
	}
}

// The watcher's reads, driven by hand: a file that is gone is removed only when a second read
// still finds it gone (an editor that renames the old file away before writing the new one
// never leaves the script out), a problem is logged and counted once however often the
// directory is read again, and a directory that cannot be read keeps every script.
func TestSyncRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scripts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "sy.{x}.get.pre_process.lua"
	file := filepath.Join(dir, name)
	writeFile(t, dir, name, keyScript("a"))
	writeFile(t, dir, "sy.{x}.get.post_process.lua", versionScript("1"))
	h := &echo{}
	ts := serve(t, Config{}, h.handle)
	dw := newDirWatcher(ts.mw, dir)
	dw.sync()
	if n := len(ts.mw.Scripts()); n != 2 {
		t.Fatalf("%d scripts", n)
	}
	refused := func(what string) {
		t.Helper()
		if r := ts.do("GET", "/sy/x", ""); r.status != 401 {
			t.Fatalf("%s: a request without a key got %d", what, r.status)
		}
	}

	// The editor's rename dance, read in the middle.
	if err := os.Rename(file, file+"~"); err != nil {
		t.Fatal(err)
	}
	dw.sync()
	refused("renamed away, read once")
	writeFile(t, dir, name, keyScript("b"))
	dw.sync()
	if r := ts.do("GET", "/sy/x", "", "X-Key", "b"); r.status != 200 {
		t.Fatalf("the rewritten file: %d", r.status)
	}
	refused("rewritten")
	if err := os.Remove(file + "~"); err != nil {
		t.Fatal(err)
	}

	// A broken file is logged and counted once, however often it is read.
	offset := len(ts.logs.String())
	writeFile(t, dir, name, "if then\n")
	for i := 0; i < 3; i++ {
		dw.sync()
	}
	if n := strings.Count(ts.logsAfter(offset), "does not compile"); n != 1 {
		t.Fatalf("the broken file was logged %d times:\n%s", n, ts.logsAfter(offset))
	}
	if st := dw.stats(); st.Rejected != 1 {
		t.Fatalf("stats %+v", st)
	}
	refused("broken")
	// Another broken version is a new problem.
	writeFile(t, dir, name, "if then\n-- still broken\n")
	dw.sync()
	if st := dw.stats(); st.Rejected != 2 {
		t.Fatalf("stats %+v", st)
	}
	writeFile(t, dir, name, keyScript("c"))
	dw.sync()
	refused("fixed")

	// Truncated in place, as a writer does before it writes, and read at that moment.
	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	dw.sync()
	refused("truncated")
	if r := ts.do("GET", "/sy/x", "", "X-Key", "c"); r.status != 200 {
		t.Fatalf("truncated: the running version is gone: %d", r.status)
	}
	if err := os.WriteFile(file, []byte(keyScript("c")), 0o644); err != nil {
		t.Fatal(err)
	}
	dw.sync()

	// The directory goes: everything stays, and that is logged once.
	offset = len(ts.logs.String())
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		dw.sync()
	}
	if n := len(ts.mw.Scripts()); n != 2 {
		t.Fatalf("with the directory gone %d scripts are left", n)
	}
	refused("directory gone")
	if n := strings.Count(ts.logsAfter(offset), "cannot be read"); n != 1 {
		t.Fatalf("the missing directory was logged %d times:\n%s", n, ts.logsAfter(offset))
	}
	if !dw.stats().Missing {
		t.Fatal("ScriptDirStats does not say the directory is missing")
	}
	// It comes back with one of the two files: that one is installed, the other goes at the
	// second read.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, keyScript("d"))
	dw.sync()
	if r := ts.do("GET", "/sy/x", "", "X-Key", "d"); r.status != 200 || r.headers["x-v"] != "1" {
		t.Fatalf("after the directory came back: %d %v", r.status, r.headers)
	}
	dw.sync()
	if r := ts.do("GET", "/sy/x", "", "X-Key", "d"); r.status != 200 || r.headers["x-v"] != "" {
		t.Fatalf("the file that did not come back: %d %v", r.status, r.headers)
	}
	if !strings.Contains(ts.logsAfter(offset), "can be read again") {
		t.Fatalf("the directory's return was not logged:\n%s", ts.logsAfter(offset))
	}
}

// The configured path is watched, not the directory it named at the start: after the
// directory is swapped by renames, deleted and recreated, or reached through a symlink that is
// swapped, its new content serves and later edits take effect; while it is missing the running
// scripts stay.
func TestReloadDirReplaced(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "scripts")
	fill := func(d, key, version string) {
		t.Helper()
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, d, "dr.{x}.get.pre_process.lua", keyScript(key))
		writeFile(t, d, "dr.{x}.get.post_process.lua", versionScript(version))
	}
	serves := func(ts *testServer, key, version string) func() bool {
		return func() bool {
			r := ts.do("GET", "/dr/x", "", "X-Key", key)
			return r.status == 200 && r.headers["x-v"] == version
		}
	}
	fill(dir, "a", "1")
	h := &echo{}
	ts := serve(t, Config{ScriptDir: dir}, h.handle)
	if !serves(ts, "a", "1")() {
		t.Fatal("version 1")
	}

	// Swapped by two renames.
	fill(dir+".new", "b", "2")
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".new", dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the swapped-in directory", serves(ts, "b", "2"))
	writeFile(t, dir+".old", "dr.{x}.get.post_process.lua", versionScript("old"))
	writeFile(t, dir, "dr.{x}.get.post_process.lua", versionScript("3"))
	waitFor(t, "an edit in the swapped-in directory", serves(ts, "b", "3"))

	// Deleted: the scripts stay. Recreated: its content serves.
	offset := len(ts.logs.String())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the missing directory's log line", func() bool {
		return strings.Contains(ts.logsAfter(offset), "cannot be read")
	})
	if !serves(ts, "b", "3")() || ts.do("GET", "/dr/x", "").status != 401 || !ts.mw.ScriptDirStats().Missing {
		t.Fatal("the scripts did not stay while the directory was missing")
	}
	fill(dir, "c", "4")
	waitFor(t, "the recreated directory", serves(ts, "c", "4"))
	writeFile(t, dir, "dr.{x}.get.post_process.lua", versionScript("5"))
	waitFor(t, "an edit in the recreated directory", serves(ts, "c", "5"))
	if ts.mw.ScriptDirStats().Missing {
		t.Fatal("ScriptDirStats still says the directory is missing")
	}

	// Reached through a symlink that is swapped.
	releases := filepath.Join(base, "releases")
	fill(filepath.Join(releases, "1"), "d", "6")
	fill(filepath.Join(releases, "2"), "e", "7")
	current := filepath.Join(base, "current")
	if err := os.Symlink(filepath.Join(releases, "1"), current); err != nil {
		t.Fatal(err)
	}
	ts2 := serve(t, Config{ScriptDir: current}, h.handle)
	if !serves(ts2, "d", "6")() {
		t.Fatal("release 1")
	}
	if err := os.Symlink(filepath.Join(releases, "2"), current+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(current+".tmp", current); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "release 2", serves(ts2, "e", "7"))
	writeFile(t, filepath.Join(releases, "2"), "dr.{x}.get.post_process.lua", versionScript("8"))
	waitFor(t, "an edit in release 2", serves(ts2, "e", "8"))
}

// The periodic full read finds a change that no event announced.
func TestReloadRescan(t *testing.T) {
	defer func(d time.Duration) { rescanInterval = d }(rescanInterval)
	rescanInterval = 100 * time.Millisecond
	dir := t.TempDir()
	writeFile(t, dir, "rs.x.get.post_process.lua", versionScript("1"))
	h := &echo{}
	ts := serve(t, Config{ScriptDir: dir}, h.handle)
	if err := ts.mw.watcher.w.Remove(dir); err != nil { // as if the events were lost
		t.Fatal(err)
	}
	writeFile(t, dir, "rs.x.get.post_process.lua", versionScript("2"))
	waitFor(t, "the rescan", func() bool { return ts.do("GET", "/rs/x", "").headers["x-v"] == "2" })
}

// Two files defining one script: the log says which file runs (the first in name order), not that the script is "not
// installed" while the other file's version serves (a new user's papercut, issue 14).
func TestSyncDuplicateFileSaysWhichRuns(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "du.x.get.pre_process.lua", versionScript("lower"))
	ts := serve(t, Config{}, (&echo{}).handle)
	dw := newDirWatcher(ts.mw, dir)
	dw.sync()
	writeFile(t, dir, "du.x.GET.pre_process.lua", versionScript("upper"))
	offset := len(ts.logs.String())
	dw.sync()
	logs := ts.logsAfter(offset)
	// The files are taken in name order, on every instance and every restart alike:
	// "du.x.GET…" sorts first, so it runs and the log says so.
	if !strings.Contains(logs, "the script from du.x.GET.pre_process.lua runs") || strings.Contains(logs, "not installed") {
		t.Fatalf("the duplicate's log line: %s", logs)
	}
	if r := ts.do("GET", "/du/x", ""); r.headers["x-v"] != "upper" {
		t.Fatalf("the file the log names should run: %v", r.headers)
	}
}
