package fastlua

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPlatformStore(t *testing.T) {
	store := NewMemoryStore()
	ts := platformServer(t, Config{Store: store})
	for i := 1; i <= 5; i++ {
		r := ts.do("GET", "/api/v2/limited/x", "", "X-Api-Key", "client-a")
		want := 404 // the handler's answer: it has no such resource
		if i > 3 {
			want = 429
		} else if r.headers["x-count"] != fmt.Sprint(i) {
			t.Fatalf("request %d: x-count %q", i, r.headers["x-count"])
		}
		if r.status != want {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if i > 3 && r.errorMessage(t) != "Too Many Requests" {
			t.Fatalf("429 body %s", r.body)
		}
	}
	if r := ts.do("GET", "/api/v2/limited/x", "", "X-Api-Key", "client-b"); r.status != 404 || r.headers["x-count"] != "1" {
		t.Fatalf("another key has its own count: %d %v", r.status, r.headers)
	}

	for _, c := range []struct{ value, typ string }{
		{`"text"`, "string"}, {`42.5`, "number"}, {`true`, "boolean"}, {`{"a":[1,2],"b":{"c":null}}`, "table"},
	} {
		ts.do("POST", "/api/v2/store/set", `{"key":"k","value":`+c.value+`}`)
		r := ts.do("POST", "/api/v2/store/get", `{"key":"k"}`)
		v := r.json(t)
		got, _ := json.Marshal(v["value"])
		if v["type"] != c.typ || string(got) != c.value {
			t.Errorf("round trip of %s: %s", c.value, r.body)
		}
	}
	ts.do("POST", "/api/v2/store/set", `{"key":"short","value":"x","ttl":0.05}`)
	time.Sleep(100 * time.Millisecond)
	if r := ts.do("POST", "/api/v2/store/get", `{"key":"short"}`); r.json(t)["type"] != "nil" {
		t.Errorf("an expired value was returned: %s", r.body)
	}
	ts.do("POST", "/api/v2/store/delete", `{"key":"k"}`)
	if r := ts.do("POST", "/api/v2/store/get", `{"key":"k"}`); r.json(t)["type"] != "nil" {
		t.Errorf("a deleted value was returned: %s", r.body)
	}
	for op, want := range map[string]string{"badincr": "not a number", "badset": "must be a string, number, boolean or table"} {
		if r := ts.do("POST", "/api/v2/store/"+op, `{}`); r.status != 500 || !strings.Contains(r.errorMessage(t), want) {
			t.Errorf("%s: %s", op, r.body)
		}
	}
}

// Keys and values are bounded in platform.store itself, before the store is called, so any
// store is bounded: a key over the limit fails every operation, a value over it fails set.
func TestStoreModuleBounds(t *testing.T) {
	for _, name := range []string{"memory", "other"} {
		t.Run(name, func(t *testing.T) {
			other := &otherStore{Store: NewMemoryStore()}
			// Building a 32 MiB key takes a while under -race on a loaded machine: the time
			// limit must not be what stops it.
			cfg := Config{MaxStringSize: 64 << 20, TimeLimit: time.Minute, Scripts: scriptsFrom(t, "store")}
			if name == "other" {
				cfg.Store = other
			}
			ts := serve(t, cfg, (&echo{}).handle)
			for _, c := range []struct {
				query string
				want  string // "" for success, else a part of the error
			}{
				{"set?key=1024&value=10", ""},
				{"set?key=1025", "1025 bytes, longer than 1 KiB (Config.MaxStoreKey)"},
				{"set?key=33554432", "longer than 1 KiB (Config.MaxStoreKey)"},
				{"incr?key=1024", ""},
				{"incr?key=1025", "(Config.MaxStoreKey)"},
				{"get?key=1025", "(Config.MaxStoreKey)"},
				{"delete?key=1025", "(Config.MaxStoreKey)"},
				{"set?key=2&value=1048576", ""},
				{"set?key=2&value=1048577", "1048577 bytes, larger than 1 MiB (Config.MaxStoreValue)"},
				{"set?key=2&value=1048572&table=1", ""}, // ["..."] is 1 MiB
				{"set?key=2&value=1048573&table=1", "larger than 1 MiB (Config.MaxStoreValue)"},
			} {
				before := other.calls.Load()
				r := ts.do("GET", "/store/"+c.query, "")
				if c.want == "" {
					if r.status != 200 {
						t.Errorf("%s: %d %s", c.query, r.status, r.body)
					}
					continue
				}
				if r.status != 500 || !strings.Contains(r.body, c.want) {
					t.Errorf("%s: %d %s, want an error with %q", c.query, r.status, r.body, c.want)
				}
				if name == "other" && other.calls.Load() != before {
					t.Errorf("%s: the store was called", c.query)
				}
			}
		})
	}
}
