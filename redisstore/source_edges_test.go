package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
)

// Two spellings of one script's name (the verb's case) written through two instances are one
// script: the later write runs on both, Redis holds one entry, and a delete removes it
// everywhere. Before, each spelling was an entry of its own: the instances ran different
// versions (the one each read last), and a delete of one brought the other back (red-team
// finding).
func TestScriptSourceOneEntryPerScript(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})
	rdb := newClient(t, srv)
	ctx := context.Background()
	for i, spelling := range []string{"api.x.get.pre_process", "api.x.GET.pre_process", "api.x.Get.pre_process"} {
		in := []*instance{a, b}[i%2]
		want := fmt.Sprintf("v%d", i)
		if st, body := in.do(t, "POST", "/_fastlua/event_script", post(spelling, answer(want))); st != 201 {
			t.Fatalf("POST %s: %d %s", spelling, st, body)
		}
		waitServes(t, a, want)
		waitServes(t, b, want)
		if fields := rdb.HKeys(ctx, "{fastlua}:scripts:set").Val(); len(fields) != 1 || fields[0] != xScript {
			t.Fatalf("after POST %s, the set's entries are %q; want only %s", spelling, fields, xScript)
		}
	}
	if st, body := b.do(t, "DELETE", "/_fastlua/event_script/api.x.GET.pre_process", ""); st != 200 {
		t.Fatalf("DELETE: %d %s", st, body)
	}
	waitServes(t, a, "upstream")
	waitServes(t, b, "upstream")

	// An entry written by hand under another spelling is refused by the read, as one named for
	// another field is: which of two entries for one script runs is not left to map order.
	js, _ := json.Marshal(map[string]string{"name": "api.x.GET.pre_process", "source": answer("hand")})
	rdb.HSet(ctx, "{fastlua}:scripts:set", "api.x.GET.pre_process", fmt.Sprintf("9 %d %s", time.Now().UnixMilli(), js))
	src := redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{})
	if _, err := src.Load(ctx); err == nil || !strings.Contains(err.Error(), `is not under its canonical name "api.x.get.pre_process"`) {
		t.Fatalf("Load with an entry under a non-canonical name: %v", err)
	}
}

// A delete of a script the set does not hold is 404 and makes no version, however it comes:
// two admins deleting one script at once through two instances (one deletion, one 404), a
// delete of a name never written, a rollback to a deletion of a script deleted already.
// Before, each of them bumped the set's version and added a deletion to the history.
func TestScriptSourceDeleteOfNothingIsNotAChange(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})
	src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
	ctx := context.Background()
	path := "/_fastlua/event_script/" + xScript
	version := func() uint64 {
		set, err := src.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return set.Version
	}
	for i := 0; i < 20; i++ {
		if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer(fmt.Sprint(i)))); st != 201 {
			t.Fatalf("round %d: POST: %d %s", i, st, body)
		}
		waitServes(t, b, fmt.Sprint(i))
		before := version()
		var sts [2]int
		var wg sync.WaitGroup
		for j, in := range []*instance{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); sts[j], _ = in.do(t, "DELETE", path, "") }()
		}
		wg.Wait()
		if !(sts == [2]int{200, 404} || sts == [2]int{404, 200}) {
			t.Fatalf("round %d: two DELETEs of one script answered %v; want one 200 and one 404", i, sts)
		}
		if v := version(); v != before+1 {
			t.Fatalf("round %d: two DELETEs of one script made the version %d from %d; want one deletion", i, v, before)
		}
	}
	before := version()
	if st, body := a.do(t, "DELETE", path, ""); st != 404 || !strings.Contains(body, "no such script") {
		t.Fatalf("DELETE of a deleted script: %d %s", st, body)
	}
	if st, body := b.do(t, "DELETE", "/_fastlua/event_script/never.written.get.pre_process", ""); st != 404 {
		t.Fatalf("DELETE of a script never written: %d %s", st, body)
	}
	h, err := src.History(ctx, xScript)
	if err != nil || !h[0].Deleted {
		t.Fatalf("history: %+v %v", h, err)
	}
	if st, body := a.do(t, "POST", path+"/rollback", fmt.Sprintf(`{"version": %d}`, h[0].Version)); st != 404 {
		t.Fatalf("rollback of a deleted script to its deletion: %d %s", st, body)
	}
	if v := version(); v != before {
		t.Fatalf("deletes of nothing moved the version from %d to %d", before, v)
	}
	// A rollback body past the admin API's bound is refused like any other admin body.
	big := `{"version": 1, "pad": "` + strings.Repeat("x", 3<<20) + `"}`
	if st, body := b.do(t, "POST", path+"/rollback", big); st != 413 {
		t.Fatalf("an oversized rollback body: %d %.200s", st, body)
	}
	// A rollback of the deleted script to a version it had brings it back.
	if st, body := b.do(t, "POST", path+"/rollback", fmt.Sprintf(`{"version": %d}`, h[1].Version)); st != 200 {
		t.Fatalf("rollback of a deleted script to a version it had: %d %s", st, body)
	}
	waitServes(t, a, "19")
}

// A name too long for a script file (the last-known-good directory holds one per script) is
// refused with 400 before it is written; one written to Redis by other means is not installed
// (listed as refused), and the other scripts still reach the last-known-good directory.
// Before, it was written and installed, and every later write of the directory failed: the
// instance's last known good stopped following the set (red-team finding).
func TestScriptSourceNameTooLongForAFile(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, "", fastlua.Config{})
	long := "api." + strings.Repeat("y", 300) + ".get.pre_process"
	st, body := a.do(t, "POST", "/_fastlua/event_script", post(long, answer("long")))
	if st != 400 || !strings.Contains(body, "a script file's name holds at most 251") {
		t.Fatalf("POST of a %d-byte name: %d %.300s", len(long), st, body)
	}
	src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
	if _, err := src.Apply(context.Background(), fastlua.ScriptChange{Put: []fastlua.Script{{Name: long, Source: answer("long")}}}); err != nil {
		t.Fatal(err)
	}
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("x"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitFor(t, "the last-known-good directory holding "+xScript, 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(a.dir, xScript+".lua"))
		return err == nil && strings.Contains(string(b), answer("x"))
	})
	stats := a.mw.ScriptSourceStats()
	if !strings.Contains(stats.Refused[long], "at most 251") {
		t.Fatalf("refused: %v", stats.Refused)
	}
	if _, found := a.mw.Script(long); found {
		t.Fatal("the script with a name too long for a file is installed")
	}
}

// A last-known-good directory that does not load (a file that does not compile, an empty one,
// a version file that is not JSON) does not stop an instance whose source can be read: it
// serves the shared set, says why in its log, and the directory is written again from the
// set. With the source down too, New fails and names both problems, rather than serve part of
// a set. Before, New failed whenever the directory did not load, Redis up or not (red-team
// finding).
func TestScriptSourceBrokenLastKnownGood(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, "", fastlua.Config{})
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(xScript+".lua", "if then")
	write("api.e.get.pre_process.lua", "")
	write(".fastlua-source.json", "{half a")
	logs := &syncBuffer{}
	b := startInstance(t, srv, dir, fastlua.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if got := b.serves(t); got != "v1" {
		t.Fatalf("serves %q, want the shared v1", got)
	}
	for _, want := range []string{"does not load; the shared set is installed instead", "does not compile", "is empty", "version file cannot be read"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
	waitFor(t, "the directory written from the shared set", 10*time.Second, func() bool {
		src, err := os.ReadFile(filepath.Join(dir, xScript+".lua"))
		_, empty := os.Stat(filepath.Join(dir, "api.e.get.pre_process.lua"))
		return err == nil && strings.Contains(string(src), answer("v1")) && empty != nil
	})

	// A directory of its own: b, still running, may write dir again at any moment.
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, xScript+".lua"), []byte("if then"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := fastlua.New(fastlua.Config{ScriptDir: broken, ScriptSource: redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{}),
		Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "does not compile") || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("New with a broken last-known-good directory and Redis down: %v", err)
	}
}

// A last-known-good directory that cannot be written (here: removed under the instance) is
// an error logged and shown in the status while the instance keeps serving; the next write
// that succeeds clears it.
func TestScriptSourceLastKnownGoodUnwritable(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, "", fastlua.Config{})
	if err := os.RemoveAll(a.dir); err != nil {
		t.Fatal(err)
	}
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitFor(t, "the status saying the directory cannot be written", 10*time.Second, func() bool {
		_, body := a.do(t, "GET", "/_fastlua/event_script/_status", "")
		return strings.Contains(body, `"last_known_good_error"`)
	})
	if got := a.serves(t); got != "v1" {
		t.Fatalf("serves %q", got)
	}
	if err := os.Mkdir(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v2"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitFor(t, "the error cleared by a write that succeeds", 10*time.Second, func() bool {
		_, body := a.do(t, "GET", "/_fastlua/event_script/_status", "")
		return !strings.Contains(body, `"last_known_good_error"`)
	})
}

// An entry in Redis that cannot be read blocks every update (safe: nothing half-read is
// installed), and the status says which and that Redis itself is reachable; a change written
// through the admin API meanwhile is answered 202 (written, not running here), not 201 with
// the record this instance still runs; writing the entry again through the admin API unblocks
// every instance. Before, the status said reachable: false, and the POST answered 201 showing
// the old content as if the new one ran (red-team finding).
func TestScriptSourceUnreadableEntry(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, b, "v1")
	const bad = "api.z.get.pre_process"
	if err := newClient(t, srv).HSet(context.Background(), "{fastlua}:scripts:set", bad, "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v2")))
	if st != 202 || !strings.Contains(body, `"installed":false`) || !strings.Contains(body, "cannot be read") || strings.Contains(body, "v1") {
		t.Fatalf("POST while an entry cannot be read: %d %s", st, body)
	}
	for _, in := range []*instance{a, b} {
		waitFor(t, in.addr+" reporting the unreadable entry", 10*time.Second, func() bool {
			_, body := in.do(t, "GET", "/_fastlua/event_script/_status", "")
			return strings.Contains(body, `"unreadable":true`) && strings.Contains(body, `"reachable":true`) &&
				strings.Contains(body, "(script "+bad+")")
		})
		if got := in.serves(t); got != "v1" {
			t.Fatalf("%s serves %q while the set cannot be read; want the running v1", in.addr, got)
		}
	}
	if st, body := b.do(t, "POST", "/_fastlua/event_script", post(bad, answer("z"))); st != 201 {
		t.Fatalf("POST of the unreadable entry's script: %d %s", st, body)
	}
	waitServes(t, a, "v2")
	waitServes(t, b, "v2")
	for _, in := range []*instance{a, b} {
		waitFor(t, in.addr+" clear", 10*time.Second, func() bool {
			_, body := in.do(t, "GET", "/_fastlua/event_script/_status", "")
			return !strings.Contains(body, "unreadable") && strings.Contains(body, `"reachable":true`)
		})
	}
}
