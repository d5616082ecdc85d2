package modules

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func TestCryptoErrors(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return crypto.md5()`, "bad argument #1 to crypto.md5 (string expected, got no value)", true},
		{`return crypto.sha256({})`, "bad argument #1 to crypto.sha256 (string expected, got table)", true},
		{`return crypto.sha1("x", "base64")`, `bad argument #2 to crypto.sha1 (true, false, "raw" or "hex" expected, got "base64")`, true},
		{`return crypto.sha512("x", 1)`, `bad argument #2 to crypto.sha512 (boolean, "raw" or "hex" expected, got number)`, true},
		{`return crypto.md5(123)`, `"202cb962ac59075b964b07152d234b70"`, false}, // a number is its text
		{`return crypto.hmac("sha3", "k", "m")`, `bad argument #1 to crypto.hmac ("md5", "sha1", "sha256" or "sha512" expected, got "sha3")`, true},
		{`return crypto.hmac("sha256", nil, "m")`, "bad argument #2 to crypto.hmac (string expected, got nil)", true},
		{`return crypto.hmac("sha256", "k")`, "bad argument #3 to crypto.hmac (string expected, got no value)", true},
		{`return crypto.random_bytes()`, "bad argument #1 to crypto.random_bytes (number expected, got no value)", true},
		{`return crypto.random_bytes("16")`, "bad argument #1 to crypto.random_bytes (number expected, got string)", true},
		{`return crypto.random_bytes(1.5)`, "bad argument #1 to crypto.random_bytes (integer expected, got 1.5)", true},
		{`return crypto.random_bytes(-1)`, "bad argument #1 to crypto.random_bytes (a non-negative integer expected, got -1)", true},
		{`return crypto.random_bytes(1048577)`, "crypto.random_bytes: 1048577 bytes is more than its limit of 1048576 bytes per call", true},
		{`return crypto.random_bytes(9999999)`, "crypto.random_bytes: 9999999 bytes is more than the string limit of 4194304 bytes (Config.MaxStringSize)", true},
		{`return crypto.random_bytes(2^60)`, "crypto.random_bytes: 1152921504606846976 bytes is more than the string limit", true},
		{`return crypto.equal("a")`, "bad argument #2 to crypto.equal (string expected, got no value)", true},
	})
	// The error names the script's line, as gopher-lua's own do.
	L := newState(t, Options{})
	if _, err := run(L, "\n\nreturn crypto.md5()"); err == nil || !strings.HasPrefix(err.Error(), "<string>:3: bad argument #1 to crypto.md5") {
		t.Errorf("error without the line: %v", err)
	}
}

// TestLimitsCallOnLimit checks that every cap's error calls Options.OnLimit (and that argument
// errors do not), with a small MaxString.
func TestLimitsCallOnLimit(t *testing.T) {
	limits := 0
	L := newState(t, Options{MaxString: 100, OnLimit: func() { limits++ }})
	const (
		limit = iota // an error of a limit, with one OnLimit call
		arg          // an error, no OnLimit call
		ok           // no error
	)
	for _, c := range []struct {
		src, want string
		kind      int
	}{
		{`return crypto.random_bytes(101)`, "crypto.random_bytes: 101 bytes is more than the string limit of 100 bytes (Config.MaxStringSize)", limit},
		{`return base64.encode(string.rep("x", 76))`, "base64.encode: 104 bytes is more than the string limit of 100 bytes (Config.MaxStringSize)", limit},
		{`return base64.url_encode(string.rep("x", 76))`, "base64.url_encode: 102 bytes is more than the string limit", limit},
		{`return url.encode(string.rep(" ", 34))`, "url.encode: 102 bytes is more than the string limit of 100 bytes", limit},
		{`return url.encode_query(string.rep("&", 34))`, "url.encode_query: 102 bytes is more than the string limit", limit},
		{`return url.build_query({a = string.rep("&", 40)})`, "url.build_query: 122 bytes is more than the string limit", limit},
		{`return url.build_query({a = {string.rep("x", 40), string.rep("y", 40)}})`, "", ok},
		{`return url.build_query({a = {string.rep("x", 40), string.rep("y", 60)}})`, "url.build_query: 105 bytes is more than the string limit", limit},
		{`return re.gsub(string.rep("x", 60), "x", "yy")`, "re.gsub: 102 bytes is more than the string limit of 100 bytes (Config.MaxStringSize)", limit},
		{`return re.gsub(string.rep("x", 60), "x", function() return "yy" end)`, "re.gsub: 102 bytes is more than the string limit", limit},
		{`return re.gsub("x", "x", string.rep("$0", 60))`, "", ok},
		{`return re.gsub(string.rep("x", 11), "x", string.rep("$0", 10))`, "re.gsub: 110 bytes is more than the string limit", limit},
		{`return re.find_all(string.rep("x", 10), "x")`, "re.find_all: the matches take more than the string limit of 100 bytes (Config.MaxStringSize), counting 16 bytes for each: pass n, or iterate with re.gmatch", limit},
		{`return re.split(string.rep(",", 10), ",")`, "re.split: the pieces take more than the string limit of 100 bytes (Config.MaxStringSize)", limit},
		{`return re.match("x", string.rep("x", 4097))`, "re.match: the pattern is 4097 bytes, more than the limit of 4096", limit},
		{`return re.match("x", string.rep("[a-z]{1000}", 11))`, "re.match: the pattern compiles to more than 10000 instructions, its limit", limit},
		{`return re.match("x", "(?:a{1000}){20}")`, "bad argument #2 to re.match (error parsing regexp: invalid repeat count: `{20}`)", arg},
		{`return re.match("x", string.rep("a", 4000) .. "a{3}")`, "", ok},
		{`return re.match(string.rep("x", 100), "x{100}")`, "", ok},
		{`return time.format(0, string.rep("%Y", 129))`, "time.format: the layout is 258 bytes, more than the limit of 256", limit},
		{`return crypto.md5()`, "bad argument #1 to crypto.md5", arg},
	} {
		before := limits
		_, err := run(L, c.src)
		switch {
		case c.kind == ok && err != nil:
			t.Errorf("%s: %v", c.src, err)
		case c.kind != ok && err == nil:
			t.Errorf("%s: no error, want %q", c.src, c.want)
		case c.kind != ok && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s:\n\terror %v\n\twant  %q", c.src, err, c.want)
		}
		if want := map[int]int{limit: 1}[c.kind]; limits-before != want {
			t.Errorf("%s: OnLimit called %d times, want %d", c.src, limits-before, want)
		}
	}
}

func BenchmarkSHA256_1KB(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	fn := Open(L, Options{})["crypto"].RawGetString("sha256")
	msg := lua.LString(strings.Repeat("x", 1024))
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		L.Push(fn)
		L.Push(msg)
		L.Call(1, 1)
		L.Pop(1)
	}
}

// BenchmarkOpen is the cost Open adds to making a state.
func BenchmarkOpen(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	b.ReportAllocs()
	for b.Loop() {
		Open(L, Options{})
	}
}
