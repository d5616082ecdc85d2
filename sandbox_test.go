package fastlua

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// installGoFunctions gives the pool's (only) state Go functions that panic, as a buggy
// builtin would: boom writes to a nil map (a Go runtime error), boomText panics with a string.
// They live in the sandbox's globals, so only scripts of this test see them.
func installGoFunctions(t *testing.T, ts *testServer) {
	t.Helper()
	st, err := ts.mw.pool.get(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.G.RawSetString("boom", st.L.NewFunction(func(L *lua.LState) int {
		var m map[string]int
		m["x"]++
		return 0
	}))
	st.G.RawSetString("boomText", st.L.NewFunction(func(L *lua.LState) int {
		panic("the builtin's own panic text")
	}))
	ts.mw.pool.put(st)
}

// A Go panic anywhere in a run stops the run and closes its state, whatever catches it: pcall,
// xpcall, an error handler of xpcall, coroutine.resume, coroutine.wrap, a gsub callback, a
// metamethod, a comparator, a platform.api call. The client sees a generic message; Go's text
// is in the log only.
func TestGoPanicStopsTheRun(t *testing.T) {
	catchers := map[string]string{
		"top":            `PANIC`,
		"pcall":          `local ok, e = pcall(function() PANIC end)`,
		"pcall_direct":   `local ok, e = pcall(FN)`,
		"pcall_nested":   `local ok, e = pcall(pcall, function() PANIC end)`,
		"pcall_loop":     `for i = 1, 3 do pcall(function() PANIC end) end`,
		"xpcall":         `local ok, e = xpcall(function() PANIC end, function(m) return m end)`,
		"xpcall_handler": `local ok, e = xpcall(function() error("x") end, function(m) PANIC return m end)`,
		"resume":         `local ok, e = coroutine.resume(coroutine.create(function() PANIC end))`,
		"resume_yield":   `local co = coroutine.create(function() coroutine.yield(1) PANIC end) coroutine.resume(co) local ok, e = coroutine.resume(co)`,
		"resume_nested":  `local ok, e = coroutine.resume(coroutine.create(function() coroutine.wrap(function() PANIC end)() end))`,
		"wrap":           `local ok, e = pcall(coroutine.wrap(function() PANIC end))`,
		"pcall_in_co":    `local ok, e = coroutine.resume(coroutine.create(function() return pcall(function() PANIC end) end))`,
		"gsub":           `local ok, e = pcall(string.gsub, "abc", "%w", function() PANIC end)`,
		"index":          `local ok, e = pcall(function() return setmetatable({}, { __index = function() PANIC end }).x end)`,
		"tostring":       `local ok, e = pcall(tostring, setmetatable({}, { __tostring = function() PANIC return "" end }))`,
		"sort":           `local ok, e = pcall(table.sort, { 3, 2, 1 }, function(a, b) PANIC return a < b end)`,
		"api":            `local ok, e = pcall(platform.api.get, "p/callee")`,
	}
	panics := map[string][2]string{ // the call, the Go text the log must show
		"random":   {"math.random(0)", "invalid argument to Intn"},
		"nilmap":   {"boom()", "assignment to entry in nil map"},
		"gostring": {"boomText()", "the builtin's own panic text"},
	}
	for pname, p := range panics {
		scripts := []Script{
			{Name: "p.ok.get.pre_process", Source: `return { content = { ok = true } }`},
			{Name: "p.callee.get.pre_process", Source: p[0]},
		}
		for cname, c := range catchers {
			fn := "math.random, 0"
			if pname != "random" {
				fn = strings.TrimSuffix(p[0], "()")
			}
			src := strings.NewReplacer("PANIC", p[0], "FN", fn).Replace(c) + "\nreturn { content = { went_on = true } }"
			scripts = append(scripts, Script{Name: "p." + cname + ".get.pre_process", Source: src})
		}
		ts := serve(t, Config{MaxStates: 1, Scripts: scripts}, (&echo{}).handle)
		for cname := range catchers {
			t.Run(pname+"/"+cname, func(t *testing.T) {
				installGoFunctions(t, ts)
				created := ts.mw.Stats().Pool.Created
				logged := len(ts.logs.String())
				r := ts.do("GET", "/p/"+cname, "")
				msg := r.errorMessage(t)
				if r.status != 500 || msg != "script p."+cname+".get.pre_process: the Lua VM failed; its state was closed (the details are logged)" {
					t.Fatalf("%d %q (%s)", r.status, msg, r.body)
				}
				logs := ts.logs.String()[logged:]
				if !strings.Contains(logs, p[1]) || !strings.Contains(logs, "kind=panic") {
					t.Fatalf("the Go panic was not logged as one:\n%s", logs)
				}
				if r := ts.do("GET", "/p/ok", ""); r.status != 200 || ts.mw.Stats().Pool.Created != created+1 {
					t.Fatalf("the state was not closed: next request %d, states created %d -> %d", r.status, created, ts.mw.Stats().Pool.Created)
				}
			})
		}
	}
}

// Ordinary errors are still caught, by each catcher, and cost no state.
func TestCatchersStillCatchErrors(t *testing.T) {
	ts := serve(t, Config{MaxStates: 1, Scripts: []Script{{Name: "c.x.get.pre_process", Source: `
local got = {}
local function add(...) got[#got + 1] = table.concat({ ... }, ":") end
add(tostring(pcall(error, "a", 0)))
add(select(2, pcall(error, "b", 0)))
add(select(2, xpcall(function() error("c", 0) end, function(m) return "h" .. m end)))
add(select(2, xpcall(function() error("d", 0) end, function(m) error("e", 0) end)))
add(select(2, coroutine.resume(coroutine.create(function() error("f", 0) end))))
local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b) error("g" .. c, 0) end)
add(tostring(select(2, coroutine.resume(co, 1, 2))), tostring(select(2, coroutine.resume(co, 3))), coroutine.status(co))
add(select(2, coroutine.resume(co)))
add(select(2, pcall(coroutine.wrap(function() error("h", 0) end))))
local w = coroutine.wrap(function(...) local n = select("#", ...) coroutine.yield(n, ...) return "done" end)
add(tostring((w(1, nil, 3))), tostring(w()))
add(tostring(select(2, pcall(w))))
add(select(2, pcall(string.gsub, "x", "x", function() error("i", 0) end)))
add(tostring(select("#", pcall(function() return 1, 2, 3 end))))
add(select(2, pcall(pcall)))
add(tostring(pcall(nil)), select(2, pcall(nil)))
return { content = { got = table.concat(got, "|") } }`}}}, (&echo{}).handle)
	created := uint64(0)
	for i := 0; i < 3; i++ {
		if i == 1 {
			created = ts.mw.Stats().Pool.Created
		}
		r := ts.do("GET", "/c/x", "")
		want := `{"got":"false|b|hc|e|f|3:g3:dead|can not resume a dead thread|h|3:done|script:15: can not resume a dead thread|i|4|script:18: bad argument #1 to (anonymous) (value expected)|false:attempt to call a nil value"}`
		if r.status != 200 || r.body != want {
			t.Fatalf("%d\n%s\nwant\n%s", r.status, r.body, want)
		}
	}
	if n := ts.mw.Stats().Pool.Created; n != created {
		t.Fatalf("ordinary errors closed states: %d -> %d", created, n)
	}
}

// pcall's cost: a call that returns and one that fails (an error caught without a traceback).
func BenchmarkPcall(b *testing.B) {
	for _, c := range []struct{ name, src string }{
		{"ok", `local f = function(x) return x end for i = 1, 1000 do pcall(f, i) end`},
		{"error", `local f = function(x) error("x") end for i = 1, 1000 do pcall(f, i) end`},
		{"xpcall_error", `local f = function() error("x") end local h = function(m) return m end for i = 1, 1000 do xpcall(f, h) end`},
		{"coroutine", `for i = 1, 50 do local co = coroutine.create(function(a) return a end) coroutine.resume(co, i) end`},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := sandboxState(b, Config{TimeLimit: -1, Scripts: []Script{{Name: "b.x.get.pre_process", Source: c.src}}})
			fn := loadChunk(b, st, c.src)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.coroutines = 0
				st.L.Push(fn)
				if err := st.L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The library modules (internal/modules) are globals and required by name in every script, from
// script files through a real server: a webhook receiver checks an HMAC and answers with what
// each module makes of the request, and the answers are Go's own.
func TestModulesFromScripts(t *testing.T) {
	const secret = "s3cret"
	ts := serve(t, Config{Scripts: scriptsFrom(t, "modules"), PlatformConfig: map[string]any{"secret": secret}}, (&echo{}).handle)
	body := `{"event":"order.created","id":42}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	sig := hex.EncodeToString(mac.Sum(nil))
	path := "/mods/webhook?tag=a+b&many=1&many=2&email=" + url.QueryEscape("joe@example.com")
	if r := ts.do("POST", path, body, "X-Signature", strings.Repeat("0", len(sig))); r.status != 401 || r.errorMessage(t) != "bad signature" {
		t.Fatalf("a bad signature: %d %s", r.status, r.body)
	}
	r := ts.do("POST", path, body, "X-Signature", sig)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := r.json(t)
	sum1 := sha1.Sum([]byte(body))
	sumMD5 := md5.Sum([]byte(body))
	want := map[string]any{
		"md5":            hex.EncodeToString(sumMD5[:]),
		"sha1":           hex.EncodeToString(sum1[:]),
		"sha512_raw_len": 64.0,
		"b64":            base64.StdEncoding.EncodeToString([]byte(body)),
		"b64url":         base64.RawURLEncoding.EncodeToString([]byte("\xff\xfe\xfd")),
		"back":           true,
		"token_len":      32.0,
		"tag":            "a b",
		"tags":           []any{"1", "2"},
		"enc":            "a%20b%26c%2Fd",
		"query":          "a=1&a=2&b=x+y",
		"email":          "example.com",
		"words":          []any{"one", "two", "three"},
		"dashed":         "02.12.2026",
		"id_ok":          true,
		"v7_sorted":      true,
		"date":           time.Unix(1764633600, 0).In(time.FixedZone("", 2*3600)).Format("2006-01-02 15:04:05") + ".250000",
		"rfc":            "2026-12-02T01:02:03Z",
		"now_ok":         true,
		"same":           true,
	}
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d fields, want %d: %s", len(got), len(want), r.body)
	}
}

// TestClockReachesEveryTimeFunction checks that Config.Clock is the time of os.time, os.date,
// time.now and uuid.v7's timestamp alike, so a script test that fixes the clock is deterministic
// whichever of them the script reads.
func TestClockReachesEveryTimeFunction(t *testing.T) {
	at := time.Date(2023, 11, 14, 22, 13, 20, 500_000_000, time.UTC)
	ts := serve(t, Config{Scripts: scriptsFrom(t, "clock"), Clock: func() time.Time { return at }}, (&echo{}).handle)
	r := ts.do("GET", "/clock", "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := map[string]any{
		"os_time":  float64(at.Unix()),
		"time_now": float64(at.UnixMilli()) / 1000,
		"os_date":  "2023-11-14 22:13:20",
		"v7_ms":    float64(at.UnixMilli()),
	}
	got := r.json(t)
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
}

// The library modules are read-only like the other libraries, keep to the sandbox's string limit
// (a broken limit is KindLimit, naming Config.MaxStringSize), check their arguments, and their
// long iterations stop at the time limit even in a straight-line script (which runs without the
// VM's per-instruction check).
func TestModulesKeepTheSandboxLimits(t *testing.T) {
	// The cases that are not about time get a generous limit (a slow machine under -race builds a
	// 4 MiB string slowly); slow.re, the case about time, has 50ms.
	scripts := scriptsFrom(t, "modules")
	for i := range scripts {
		if scripts[i].Name == "slow.re.get.pre_process" {
			scripts[i].TimeLimit = 50 * time.Millisecond
		}
	}
	ts := serve(t, Config{Scripts: scripts, TimeLimit: 30 * time.Second, MaxTimeLimit: time.Minute}, (&echo{}).handle)
	for _, c := range []struct{ path, want, kind string }{
		{"readonly", "the crypto library is read-only", "runtime"},
		{"rawset", "rawset: the re library is read-only", "runtime"},
		{"setmetatable", "setmetatable: the time library is read-only", "runtime"},
		{"limit", "base64.encode: 4266668 bytes is more than the string limit of 4194304 bytes (Config.MaxStringSize)", "limit"},
		{"random", "crypto.random_bytes", "limit"},
		{"argument", "bad argument #1 to crypto.md5 (string expected, got nil)", "runtime"},
		{"require", `module "nope" not found: require loads only the built-in modules (string, table, math, os, coroutine, json, log, metrics, crypto, base64, url, re, uuid, time)`, "runtime"},
		{"/slow/re", "exceeded its time limit of 50ms", "timeout"},
	} {
		logged := len(ts.logs.String())
		path := c.path
		if !strings.HasPrefix(path, "/") {
			path = "/mods/" + path
		}
		r := ts.do("GET", path, "")
		if msg := r.errorMessage(t); r.status != 500 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %q", c.path, r.status, msg, c.want)
		}
		if logs := ts.logs.String()[logged:]; !strings.Contains(logs, "kind="+c.kind) {
			t.Errorf("%s: not logged as kind=%s:\n%s", c.path, c.kind, logs)
		}
	}
}

// The README's section on the library modules: its example runs as written in a pre_process
// script of a real server, and what its table says of each function holds.
func TestReadmeModules(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## crypto, base64, url, re, uuid and time\n")
	_, block, ok2 := strings.Cut(section, "```lua\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no lua block in its section on the modules")
	}
	h := &echo{}
	ts := serve(t, Config{Scripts: []Script{{Name: "hook.post.pre_process", Source: block}}, PlatformConfig: map[string]any{"secret": "k"}}, h.handle)
	body := `{"email":"joe@example.com"}`
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte(body))
	if r := ts.do("POST", "/hook?a=1", body, "X-Signature", hex.EncodeToString(mac.Sum(nil))); r.status != 200 {
		t.Fatalf("the README's example: %d %s", r.status, r.body)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(h.lastSeen().Body), &payload); err != nil || len(payload["id"].(string)) != 36 || payload["created"] == nil {
		t.Fatalf("the handler got %s (%v)", h.lastSeen().Body, err)
	}
	if r := ts.do("POST", "/hook", body, "X-Signature", "00"); r.status != 401 {
		t.Fatalf("a bad signature: %d %s", r.status, r.body)
	}

	_, run := sandboxState(t, Config{})
	for _, c := range []struct{ expr, want string }{
		{`crypto.sha256("abc", true) == crypto.sha256("abc"):gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)`, "true"},
		{`crypto.hmac("sha256", "key", "The quick brown fox jumps over the lazy dog")`, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
		{`select(2, pcall(crypto.random_bytes, 1024 * 1024 + 1)) ~= nil and #crypto.random_bytes(1024 * 1024)`, "1048576"},
		{`#(crypto.random_bytes(16):gsub(".", function(c) return ("%02x"):format(c:byte()) end))`, "32"},
		{`tostring(crypto.equal("a", "ab")) .. tostring(crypto.equal("ab", "ab"))`, "falsetrue"},
		{`base64.decode("YWJj") .. base64.decode("YW\r\nJjZA==") .. tostring(pcall(base64.decode, "Y*"))`, "abcabcdfalse"},
		{`base64.url_encode("\255\254")`, "__4"},
		{`url.encode("a b!'()*~") .. " " .. url.encode_query("a b~")`, "a%20b%21%27%28%29%2A~ a+b~"},
		{`tostring(pcall(url.decode, "%zz"))`, "false"},
		{`table.concat(url.parse_query("?a=1&a=2&b=x+y&c[]=3").a, ",") .. url.parse_query("b=x+y").b .. url.parse_query("c[]=3")["c[]"]`, "1,2x y3"},
		{`url.build_query({ b = true, a = { "1", "2" } }) .. tostring(pcall(url.build_query, { a = { b = { 1 } } }))`, "a=1&a=2&b=truefalse"},
		{`(function(u) return u.host .. " " .. u.hostname .. " " .. u.port .. " " .. u.path .. " " .. u.query end)(url.parse("https://h:8443/p?q=1"))`, "h:8443 h 8443 /p q=1"},
		{`url.parse("/rel?x=1").path .. url.parse("/rel?x=1").query`, "/relx=1"},
		{`re.match("joe@x", [[(\w+)@]]) .. tostring(re.match("x", "y")) .. re.match("ABC", "(?i)abc")`, "joenilABC"},
		{`table.concat({ re.find("xxab", "(a)b") }, ",")`, "3,4,a"},
		{`#re.find_all("a1b2", [[\d]]) .. re.find_all("k=v", [[(?P<key>\w)=(\w)]])[1].key`, "2k"},
		{`re.gsub("2026-12-02", [[(\d+)-(\d+)]], "${2}/$1")`, "12/2026-02"},
		{`table.concat(re.split("a, b,c", [[,\s*]]), "|")`, "a|b|c"},
		{`#uuid.v4() .. uuid.v4():sub(15, 15) .. uuid.v7():sub(15, 15)`, "3647"},
		{`time.format(0, "rfc3339") .. " " .. time.format(1.5, "%Y-%m-%dT%H:%M:%S.%fZ") .. " " .. time.format(0, "%H:%M %z", "+02:00")`, "1970-01-01T00:00:00Z 1970-01-01T00:00:01.500000Z 02:00 +0200"},
		{`time.parse("2026-12-02 01:02:03", "%Y-%m-%d %H:%M:%S", "-0530") - time.parse("2026-12-02T01:02:03Z", "rfc3339")`, "19800"},
		{`tostring(pcall(time.format, 0, "%Q"))`, "false"},
	} {
		v, err := run(`return ` + c.expr)
		if err != nil || v.String() != c.want {
			t.Errorf("%s = %v %v, want %s", c.expr, v, err, c.want)
		}
	}
}
