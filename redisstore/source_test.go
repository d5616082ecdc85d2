package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

const adminToken = "secret"

// instance is one fastlua instance sharing its scripts through Redis: a real server on
// 127.0.0.1 serving the admin API at /_fastlua/event_script and the scripts elsewhere.
type instance struct {
	mw   *fastlua.Middleware
	addr string
	dir  string // the last-known-good directory
}

func newClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func startInstance(t *testing.T, srv *redistest.Server, dir string, cfg fastlua.Config) *instance {
	t.Helper()
	return startInstanceOn(t, redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{}), dir, cfg)
}

// startInstanceOn is startInstance with its own script source.
func startInstanceOn(t *testing.T, src fastlua.ScriptSource, dir string, cfg fastlua.Config) *instance {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.ScriptSource = src
	cfg.ScriptDir, cfg.AdminToken = dir, adminToken
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mw, err := fastlua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := mw.AdminHandler()
	app := mw.Wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("upstream") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/_fastlua/") {
			admin(ctx)
			return
		}
		app(ctx)
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	in := &instance{mw: mw, addr: ln.Addr().String(), dir: dir}
	t.Cleanup(func() {
		_ = s.Shutdown()
		<-done
		_ = mw.Close(context.Background())
	})
	return in
}

// do sends a request and returns the status and the body.
func (in *instance) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + in.addr + path)
	req.Header.SetMethod(method)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.SetBodyString(body)
		req.Header.SetContentType("application/json")
	}
	if err := fasthttp.DoTimeout(req, resp, 15*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// serves is what a request to /api/x gets.
func (in *instance) serves(t *testing.T) string {
	t.Helper()
	_, body := in.do(t, "GET", "/api/x", "")
	return body
}

func post(name, content string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "content": content})
	return string(b)
}

// answer is a script answering /api/x with s.
func answer(s string) string { return fmt.Sprintf("event.response.content = %q", s) }

const xScript = "api.x.get.pre_process"

func waitServes(t *testing.T, in *instance, want string) {
	t.Helper()
	waitFor(t, in.addr+" serving "+want, 10*time.Second, func() bool { return in.serves(t) == want })
}

// A change through one instance's admin API serves on the other; GET shows the version and the
// history; a rollback through the other reaches the first; a batch with a script that does not
// compile changes nothing anywhere; a delete reaches both; the status says what runs.
func TestScriptSourceAdminAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})

	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	if got := a.serves(t); got != "v1" {
		t.Fatalf("the writer serves %q right after its POST, want v1", got)
	}
	waitServes(t, b, "v1")
	if st, body := b.do(t, "POST", "/_fastlua/event_script/"+xScript, post(xScript, answer("v2"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, a, "v2")

	st, body := a.do(t, "GET", "/_fastlua/event_script/"+xScript, "")
	var rec struct {
		Version uint64 `json:"version"`
		History []struct {
			Version uint64 `json:"version"`
			Content string `json:"content"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &rec); st != 200 || err != nil {
		t.Fatalf("GET: %d %s %v", st, body, err)
	}
	if rec.Version != 2 || len(rec.History) != 2 || rec.History[0].Version != 2 || rec.History[1].Content != answer("v1") {
		t.Fatalf("GET: version %d, history %+v; want 2, [2 v2, 1 v1]", rec.Version, rec.History)
	}

	if st, body := b.do(t, "POST", "/_fastlua/event_script/"+xScript+"/rollback", `{"version": 1}`); st != 200 || !strings.Contains(body, `"version":3`) {
		t.Fatalf("rollback: %d %s", st, body)
	}
	waitServes(t, a, "v1")
	if st, body := b.do(t, "POST", "/_fastlua/event_script/"+xScript+"/rollback", `{"version": 99}`); st != 404 {
		t.Fatalf("rollback to a version not kept: %d %s", st, body)
	}

	// A batch is one change: one script that does not compile refuses all of it.
	batch := fmt.Sprintf(`{"resource": [%s, %s]}`, post(xScript, answer("v4")), post("api.y.get.pre_process", "this is not lua"))
	if st, body := a.do(t, "POST", "/_fastlua/event_script", batch); st != 400 || !strings.Contains(body, "api.y.get.pre_process") {
		t.Fatalf("batch with a bad script: %d %s", st, body)
	}
	batch = fmt.Sprintf(`{"resource": [%s, %s]}`, post(xScript, answer("v4")), post("api.y.get.pre_process", answer("y")))
	if st, body := a.do(t, "POST", "/_fastlua/event_script", batch); st != 201 || strings.Count(body, `"version":4`) != 2 {
		t.Fatalf("batch: %d %s", st, body)
	}
	waitServes(t, b, "v4")
	if _, body := b.do(t, "GET", "/api/y", ""); body != "y" {
		t.Fatalf("/api/y on b: %q", body)
	}

	if st, body := b.do(t, "PATCH", "/_fastlua/event_script/api.y.get.pre_process", `{"is_active": false}`); st != 200 {
		t.Fatalf("PATCH: %d %s", st, body)
	}
	waitFor(t, "a running y's version 5, inactive", 10*time.Second, func() bool {
		_, body := a.do(t, "GET", "/api/y", "")
		return body == "upstream"
	})
	if st, body := a.do(t, "DELETE", "/_fastlua/event_script/"+xScript, ""); st != 200 {
		t.Fatalf("DELETE: %d %s", st, body)
	}
	waitServes(t, b, "upstream")

	st, body = b.do(t, "GET", "/_fastlua/event_script/_status", "")
	var status struct {
		Shared    bool              `json:"shared"`
		Version   uint64            `json:"version"`
		Reachable bool              `json:"reachable"`
		LastSync  *time.Time        `json:"last_sync"`
		Refused   map[string]string `json:"refused"`
	}
	if err := json.Unmarshal([]byte(body), &status); st != 200 || err != nil || !status.Shared || status.Version != 6 ||
		!status.Reachable || status.LastSync == nil || len(status.Refused) != 0 {
		t.Fatalf("status: %d %s", st, body)
	}
	// The last-known-good directory holds what runs (written after the change is installed).
	waitFor(t, "b's last-known-good directory holding only api.y", 10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(b.dir, "*.lua"))
		meta, _ := os.ReadFile(filepath.Join(b.dir, ".fastlua-source.json"))
		return len(files) == 1 && filepath.Base(files[0]) == "api.y.get.pre_process.lua" && strings.Contains(string(meta), `"version":6`)
	})

	// A deleted script keeps its history: GET shows it, and a rollback brings it back.
	if st, body := a.do(t, "GET", "/_fastlua/event_script/"+xScript, ""); st != 200 || !strings.Contains(body, `"deleted":true`) {
		t.Fatalf("GET of a deleted script: %d %s", st, body)
	}
	if st, body := a.do(t, "POST", "/_fastlua/event_script/"+xScript+"/rollback", `{"version": 4}`); st != 200 || !strings.Contains(body, `"version":7`) {
		t.Fatalf("rollback of a deleted script: %d %s", st, body)
	}
	waitServes(t, b, "v4")
}

// A version written to the source that does not compile here (written by another program, or
// an instance with other limits) is not installed: the running version stays, and the status
// names it; a good version after it is installed.
func TestScriptSourceRefusesWhatDoesNotCompile(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, "", fastlua.Config{})
	src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
	ctx := context.Background()
	if _, err := src.Apply(ctx, fastlua.ScriptChange{Put: []fastlua.Script{{Name: xScript, Source: answer("good")}}}); err != nil {
		t.Fatal(err)
	}
	waitServes(t, a, "good")
	if _, err := src.Apply(ctx, fastlua.ScriptChange{Put: []fastlua.Script{{Name: xScript, Source: "if then"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", 10*time.Second, func() bool { return a.mw.ScriptSourceStats().Version == 2 })
	st := a.mw.ScriptSourceStats()
	if !strings.Contains(st.Refused[xScript], "api.x.get.pre_process") {
		t.Fatalf("refused: %v", st.Refused)
	}
	if got := a.serves(t); got != "good" {
		t.Fatalf("serves %q after a version that does not compile; want the running version, good", got)
	}
	if _, err := src.Apply(ctx, fastlua.ScriptChange{Put: []fastlua.Script{{Name: xScript, Source: answer("better")}}}); err != nil {
		t.Fatal(err)
	}
	waitServes(t, a, "better")
	if st := a.mw.ScriptSourceStats(); len(st.Refused) != 0 {
		t.Fatalf("refused after a good version: %v", st.Refused)
	}
	// A conditional change on a version that is not the set's any more changes nothing.
	old := uint64(1)
	if _, err := src.Apply(ctx, fastlua.ScriptChange{Put: []fastlua.Script{{Name: xScript, Source: answer("late")}}, IfVersion: &old}); err == nil ||
		!strings.Contains(err.Error(), "changed meanwhile") {
		t.Fatalf("conditional change on an old version: %v", err)
	}
	// Only the last Keep versions are kept.
	small := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{Prefix: "small", Keep: 3})
	for i := 0; i < 5; i++ {
		if _, err := small.Apply(ctx, fastlua.ScriptChange{Put: []fastlua.Script{{Name: xScript, Source: answer(fmt.Sprint(i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := small.History(ctx, xScript); err != nil || len(h) != 3 || h[0].Version != 5 || h[2].Version != 3 {
		t.Fatalf("history with Keep 3 after 5 versions: %+v %v", h, err)
	}
}

// Redis down: both instances keep serving, and say so; an instance started while Redis is down
// serves its last-known-good directory; Redis back: every instance converges.
func TestScriptSourceRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	logs := &syncBuffer{}
	a := startInstance(t, srv, "", fastlua.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	b := startInstance(t, srv, "", fastlua.Config{})
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v1"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, b, "v1")
	// An older last-known-good directory: b's at version 1.
	stale := t.TempDir()
	waitFor(t, "b's last-known-good directory at version 1", 10*time.Second, func() bool {
		src, err := os.ReadFile(filepath.Join(b.dir, xScript+".lua"))
		return err == nil && strings.Contains(string(src), answer("v1"))
	})
	copyDir(t, b.dir, stale)
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v2"))); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	waitServes(t, b, "v2")

	srv.Stop()
	for _, in := range []*instance{a, b} {
		waitFor(t, "the instance noticing Redis is down", 10*time.Second, func() bool { return !in.mw.ScriptSourceStats().Reachable })
		if got := in.serves(t); got != "v2" {
			t.Fatalf("serves %q with Redis down, want v2", got)
		}
	}
	if st, body := a.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v3"))); st != 503 {
		t.Fatalf("POST with Redis down: %d %s", st, body)
	}
	waitFor(t, "three failed reads", 20*time.Second, func() bool { return a.mw.ScriptSourceStats().Failures >= 3 })
	if n := strings.Count(logs.String(), "source cannot be read"); n != 1 {
		t.Fatalf("Redis down logged %d times, want once:\n%s", n, logs.String())
	}
	if got := a.serves(t); got != "v2" {
		t.Fatalf("serves %q after a POST that failed, want v2", got)
	}
	c := startInstance(t, srv, stale, fastlua.Config{})
	if got := c.serves(t); got != "v1" {
		t.Fatalf("an instance started with Redis down serves %q, want its last known good, v1", got)
	}
	if st := c.mw.ScriptSourceStats(); st.Reachable || st.LastKnownGood != 1 || st.Failures == 0 {
		t.Fatalf("its stats: %+v", st)
	}
	srv.Restart()
	waitServes(t, c, "v2")
	for _, in := range []*instance{a, b, c} {
		waitFor(t, "the instance reading Redis again", 10*time.Second, func() bool { return in.mw.ScriptSourceStats().Reachable })
	}
	if st, body := c.do(t, "POST", "/_fastlua/event_script", post(xScript, answer("v3"))); st != 201 {
		t.Fatalf("POST through c: %d %s", st, body)
	}
	waitServes(t, a, "v3")
	waitServes(t, b, "v3")
	if n := strings.Count(logs.String(), "can be read again"); n != 1 {
		t.Fatalf("Redis back logged %d times, want once:\n%s", n, logs.String())
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Two admins writing one script at once through two instances: both instances end running one
// version, the later by cluster version, every time.
func TestScriptSourceConcurrentWritersConverge(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})
	src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
	const rounds = 60
	for i := 0; i < rounds; i++ {
		var wg sync.WaitGroup
		for j, in := range []*instance{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				method, body := "POST", post(xScript, answer(fmt.Sprintf("%d-%d", i, j)))
				want := 201
				if i%3 == 2 { // PATCHes too: they may conflict (409), never split
					method, body, want = "PATCH", fmt.Sprintf(`{"content": %q}`, answer(fmt.Sprintf("%d-%d", i, j))), 200
				}
				path := "/_fastlua/event_script/" + xScript
				if i == 0 {
					method, want = "POST", 201
				}
				st, resp := in.do(t, method, path, body)
				if st != want && !(method == "PATCH" && st == 409) {
					t.Errorf("round %d: %s through %d: %d %s", i, method, j, st, resp)
				}
			}()
		}
		wg.Wait()
		h, err := src.History(context.Background(), xScript)
		if err != nil || len(h) == 0 {
			t.Fatalf("round %d: history %v %v", i, h, err)
		}
		latest := strings.TrimPrefix(h[0].Source, "")
		waitFor(t, fmt.Sprintf("round %d: both instances at version %d", i, h[0].Version), 10*time.Second, func() bool {
			return a.mw.ScriptSourceStats().Version == h[0].Version && b.mw.ScriptSourceStats().Version == h[0].Version
		})
		for _, in := range []*instance{a, b} {
			sc, _ := in.mw.Script(xScript)
			if fastlua.StripDirectives(sc.Source) != latest {
				t.Fatalf("round %d: %s runs %q; the latest version (%d) is %q", i, in.addr, sc.Source, h[0].Version, latest)
			}
		}
	}
}

// syncBuffer is a log destination several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A change whose announcement is lost (written to Redis without the message) is installed by
// the periodic full read.
func TestScriptSourceResyncCatchesALostAnnouncement(t *testing.T) {
	srv := redistest.Start(t)
	a := startInstance(t, srv, "", fastlua.Config{ScriptResync: 200 * time.Millisecond})
	rdb := newClient(t, srv)
	ctx := context.Background()
	js, _ := json.Marshal(map[string]string{"name": xScript, "source": answer("quiet")})
	if err := rdb.Set(ctx, "{fastlua}:scripts:version", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, "{fastlua}:scripts:set", xScript, fmt.Sprintf("1 %d %s", time.Now().UnixMilli(), js)).Err(); err != nil {
		t.Fatal(err)
	}
	waitServes(t, a, "quiet")
}

// A source never written (a new or emptied Redis) does not remove the scripts an instance
// runs from its last-known-good directory (every script gone, auth scripts too, would be a
// bypass): they stay, with one warning, until the source is written; then its set runs.
func TestScriptSourceEmptyRedisKeepsTheRunningSet(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, xScript+".lua"), []byte(answer("local")), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startInstance(t, srv, dir, fastlua.Config{ScriptResync: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	// Three full reads of the empty source, then: the script is still there.
	var reads []time.Time
	waitFor(t, "three reads", 10*time.Second, func() bool {
		if last := a.mw.ScriptSourceStats().LastSync; len(reads) == 0 || !last.Equal(reads[len(reads)-1]) {
			reads = append(reads, last)
		}
		return len(reads) > 3
	})
	if got := a.serves(t); got != "local" {
		t.Fatalf("serves %q with an empty source, want the running local", got)
	}
	if n := strings.Count(logs.String(), "is empty (never written)"); n != 1 {
		t.Fatalf("%d warnings about the empty source, want 1:\n%s", n, logs.String())
	}
	src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
	if _, err := src.Apply(context.Background(), fastlua.ScriptChange{Put: []fastlua.Script{{Name: "api.y.get.pre_process", Source: answer("y")}}}); err != nil {
		t.Fatal(err)
	}
	waitServes(t, a, "upstream")
}

// Two admins PATCHing different fields of one script at once through two instances: each
// PATCH either takes effect or is answered 409 and changes nothing, never lost silently (a
// PATCH made on a copy another change had made stale would undo that change).
func TestScriptSourceConcurrentPatchesLoseNothing(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startInstance(t, srv, "", fastlua.Config{}), startInstance(t, srv, "", fastlua.Config{})
	path := "/_fastlua/event_script/" + xScript
	conflicts := 0
	for i := 0; i < 40; i++ {
		if st, body := a.do(t, "POST", path, post(xScript, answer("base"))); st != 201 {
			t.Fatalf("round %d: POST: %d %s", i, st, body)
		}
		content := answer(fmt.Sprintf("c%d", i))
		var stA, stB int
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); stA, _ = a.do(t, "PATCH", path, `{"is_active": false}`) }()
		go func() { defer wg.Done(); stB, _ = b.do(t, "PATCH", path, fmt.Sprintf(`{"content": %q}`, content)) }()
		wg.Wait()
		for _, st := range []int{stA, stB} {
			switch st {
			case 200:
			case 409:
				conflicts++
			default:
				t.Fatalf("round %d: PATCH answered %d", i, st)
			}
		}
		src := redisstore.NewScriptSource(newClient(t, srv), redisstore.ScriptSourceConfig{})
		h, err := src.History(context.Background(), xScript)
		if err != nil {
			t.Fatal(err)
		}
		got := h[0].Script
		if stA == 200 && !got.Disabled {
			t.Fatalf("round %d: the is_active PATCH was answered 200 and is lost: %+v", i, got)
		}
		if stB == 200 && got.Source != content {
			t.Fatalf("round %d: the content PATCH was answered 200 and is lost: %+v", i, got)
		}
	}
	t.Logf("%d of 80 PATCHes answered 409", conflicts)
}

// An entry written to Redis by hand under one field whose JSON names another script is refused
// by the read, not installed as a second copy of that script: which copy ran followed Go's map
// order from one read to the next (red-team finding).
func TestScriptSourceRefusesAnEntryNamedForAnotherField(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv)
	ctx := context.Background()
	src := redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{})
	now := time.Now().UnixMilli()
	good, _ := json.Marshal(map[string]string{"name": xScript, "source": answer("v1")})
	evil, _ := json.Marshal(map[string]string{"name": xScript, "source": answer("evil")})
	rdb.Set(ctx, "{fastlua}:scripts:version", 2, 0)
	rdb.HSet(ctx, "{fastlua}:scripts:set", xScript, fmt.Sprintf("1 %d %s", now, good))
	rdb.HSet(ctx, "{fastlua}:scripts:set", "other.get.pre_process", fmt.Sprintf("2 %d %s", now, evil))
	_, err := src.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), `stored as script "other.get.pre_process" names the script "api.x.get.pre_process"`) {
		t.Fatalf("Load: %v", err)
	}
}
