package modules

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// TestUUIDLayout checks RFC 9562's layout: the version nibble, the variant bits, and a v4 made
// of given random bytes.
func TestUUIDLayout(t *testing.T) {
	for _, c := range []struct {
		random byte
		want   string
	}{
		{0x00, "00000000-0000-4000-8000-000000000000"},
		{0xff, "ffffffff-ffff-4fff-bfff-ffffffffffff"},
		{0x5a, "5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a"},
	} {
		L := newState(t, Options{Rand: bytes.NewReader(bytes.Repeat([]byte{c.random}, 16))})
		got, err := run(L, `return uuid.v4()`)
		if err != nil || got != strconv.Quote(c.want) {
			t.Errorf("v4 from %#x bytes: got %s, %v; want %q", c.random, got, err, c.want)
		}
	}
	L := newState(t, Options{})
	for i := 0; i < 100; i++ {
		for _, c := range []struct {
			f  string
			re *regexp.Regexp
		}{{"v4", uuidV4}, {"v7", uuidV7}} {
			got, err := run(L, `return uuid.`+c.f+`()`)
			if err != nil || !c.re.MatchString(strings.Trim(got, `"`)) {
				t.Fatalf("uuid.%s() = %s, %v: not an RFC 9562 version %s", c.f, got, err, c.f[1:])
			}
		}
	}
}

// TestUUIDv7Time checks that a v7 starts with the clock's Unix milliseconds (RFC 9562 §5.7;
// the clock of its appendix A.6 example, 0x017F22E279B0) and that v7s are in order: within a
// millisecond, and as the clock moves on.
func TestUUIDv7Time(t *testing.T) {
	now := time.UnixMilli(0x017F22E279B0)
	L := newState(t, Options{Now: func() time.Time { return now }})
	var prev string
	for i := 0; i < 3000; i++ {
		if i%1000 == 999 {
			now = now.Add(time.Millisecond)
		}
		got, err := run(L, `return uuid.v7()`)
		if err != nil {
			t.Fatal(err)
		}
		u := strings.Trim(got, `"`)
		ms, _ := strconv.ParseInt(strings.ReplaceAll(u[:13], "-", ""), 16, 64)
		if ms != now.UnixMilli() {
			t.Fatalf("uuid %s has the time %#x, want %#x", u, ms, now.UnixMilli())
		}
		if i == 0 && !strings.HasPrefix(u, "017f22e2-79b0-7") {
			t.Errorf("uuid %s does not start as RFC 9562's example 017F22E2-79B0-7...", u)
		}
		if u <= prev {
			t.Fatalf("uuid %d, %s, is not after %s", i, u, prev)
		}
		prev = u
	}
}

// TestUUIDv7Concurrent makes v7s on several states at once, all in one millisecond: every one
// is unique, and each state's are in order.
func TestUUIDv7Concurrent(t *testing.T) {
	now := time.UnixMilli(1_900_000_000_000)
	var wg sync.WaitGroup
	results := make([][]string, 4)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			L := lua.NewState()
			defer L.Close()
			v7 := Open(L, Options{Now: func() time.Time { return now }})["uuid"].RawGetString("v7")
			for i := 0; i < 500; i++ {
				if err := L.CallByParam(lua.P{Fn: v7, NRet: 1, Protect: true}); err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], L.Get(-1).String())
				L.Pop(1)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for g, list := range results {
		for i, u := range list {
			if seen[u] {
				t.Fatalf("uuid %s made twice", u)
			}
			seen[u] = true
			if i > 0 && u <= list[i-1] {
				t.Fatalf("state %d: %s is not after %s", g, u, list[i-1])
			}
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestUUIDErrors(t *testing.T) {
	runCases(t, Options{Rand: failingReader{}}, []luaCase{
		{`return uuid.v4()`, "uuid.v4: the random source failed: no entropy", true},
		{`return uuid.v7()`, "uuid.v7: the random source failed: no entropy", true},
		{`return crypto.random_bytes(4)`, "crypto.random_bytes: the random source failed: no entropy", true},
	})
}

func ExampleOpen() {
	L := lua.NewState()
	defer L.Close()
	for name, tb := range Open(L, Options{Now: func() time.Time { return time.Unix(1777638896, 0) }}) {
		L.SetGlobal(name, tb)
	}
	if err := L.DoString(`
		print(crypto.sha256("abc"))
		print(base64.encode("foobar"), url.encode("a b&c"))
		print(re.gsub("John Smith", "(\\w+) (\\w+)", "$2, $1"))
		print(time.format(time.now(), "rfc3339", "+02:00"))
	`); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	// Zm9vYmFy	a%20b%26c
	// Smith, John	1
	// 2026-05-01T14:34:56+02:00
}
