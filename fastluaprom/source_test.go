package fastluaprom_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluaprom"
	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/fastlua/fastlua/redisstore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// With shared scripts on a real Redis: the source is up and at its version; Redis stopped: it
// is down and the failed reads are counted.
func TestCollectorScriptSource(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	src := redisstore.NewScriptSource(rdb, redisstore.ScriptSourceConfig{})
	if _, err := src.Apply(t.Context(), fastlua.ScriptChange{Put: []fastlua.Script{{Name: "m.x.get.pre_process", Source: "local x = 1"}}}); err != nil {
		t.Fatal(err)
	}
	mw, err := fastlua.New(fastlua.Config{ScriptSource: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(t.Context())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fastluaprom.NewCollector(mw))
	names := []string{"fastlua_script_source_up", "fastlua_script_source_version", "fastlua_script_source_failures_total", "fastlua_script_source_refused"}
	want := func(up, version, failures string) string {
		return `
# HELP fastlua_script_source_failures_total Reads of the shared script source that failed.
# TYPE fastlua_script_source_failures_total counter
fastlua_script_source_failures_total ` + failures + `
# HELP fastlua_script_source_refused Scripts whose version in the shared source this instance did not install (it does not compile here).
# TYPE fastlua_script_source_refused gauge
fastlua_script_source_refused 0
# HELP fastlua_script_source_up 1 while the shared script source (Config.ScriptSource) can be read, else 0.
# TYPE fastlua_script_source_up gauge
fastlua_script_source_up ` + up + `
# HELP fastlua_script_source_version The version of the shared script set this instance runs (0: its last-known-good directory's).
# TYPE fastlua_script_source_version gauge
fastlua_script_source_version ` + version + `
`
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("1", "1", "0")), names...); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for mw.ScriptSourceStats().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed read with Redis stopped: %+v", mw.ScriptSourceStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The failures go on counting (a read a second): compare the others.
	down := strings.Split(want("0", "1", "0"), "# HELP fastlua_script_source_refused")[1]
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP fastlua_script_source_refused"+down), names[0], names[1], names[3]); err != nil {
		t.Fatal(err)
	}
}
