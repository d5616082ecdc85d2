package fastlua

import (
	"log/slog"
	"math"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/fastlua/fastlua/internal/luanum"
	lua "github.com/yuin/gopher-lua"
)

// The string functions' cost, Lua patterns first: each op is 100 calls from a Lua loop.
func BenchmarkStringPatterns(b *testing.B) {
	for _, c := range []struct{ name, src string }{
		{"find_plain", `local s = "GET /api/v2/db/_table/contacts?limit=10" for i = 1, 100 do s:find("_table", 1, true) end`},
		{"find_class", `local s = "GET /api/v2/db/_table/contacts?limit=10" for i = 1, 100 do s:find("%d+") end`},
		{"match_captures", `local s = "/api/v2/db/_table/contacts" for i = 1, 100 do s:match("^/api/v(%d+)/(%w+)/_table/([%w_]+)$") end`},
		{"match_backtrack", `local s = ("x"):rep(64) .. "=y" for i = 1, 100 do s:match("(.-)=(.*)") end`},
		{"gmatch", `local s = "a=1&b=2&c=3&d=4" for i = 1, 100 do for k, v in s:gmatch("(%w+)=(%w+)") do end end`},
		{"gsub_string", `local s = "hello world from lua" for i = 1, 100 do s:gsub("o", "0") end`},
		{"gsub_captures", `local s = "2026-12-02" for i = 1, 100 do s:gsub("(%d+)-(%d+)-(%d+)", "%3/%2/%1") end`},
		{"gsub_function", `local s = "a b c d e f" local f = function(c) return c end for i = 1, 100 do s:gsub("%a", f) end`},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := sandboxState(b, Config{TimeLimit: -1})
			fn := loadChunk(b, st, c.src)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.L.Push(fn)
				if err := st.L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The sizes the caps count before building are the sizes then built.
func TestCountedSizes(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rnd.Intn(16))
		for j := range b {
			b[j] = byte(rnd.Intn(256))
		}
		if rnd.Intn(2) == 0 {
			b = []byte(string([]rune{rune(rnd.Intn(0x3000)), 'ı', 'ſ', 'ɐ', 'ẞ', 'ǅ'}[rnd.Intn(6)]) + string(b))
		}
		s := string(b)
		if n := caseMappedLen(s, unicode.ToUpper); n != len(strings.ToUpper(s)) {
			t.Fatalf("upper %q: counted %d, made %d", s, n, len(strings.ToUpper(s)))
		}
		if n := caseMappedLen(s, unicode.ToLower); n != len(strings.ToLower(s)) {
			t.Fatalf("lower %q: counted %d, made %d", s, n, len(strings.ToLower(s)))
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e15, 1e16, 1e20, 1e21, 2e22, 1.5e300, 5e-324, 123456789.125,
		math.MaxInt64, math.MinInt64, 1 << 53, math.Inf(1), math.Inf(-1), math.NaN(), 1 / 3.0, -2.5e-7} {
		v := lua.LNumber(f)
		if got := string(appendNumber(nil, v)); got != luanum.String(f) {
			t.Errorf("appendNumber(%v) = %q, tostring gives %q", f, got, luanum.String(f))
		}
	}
	for i := 0; i < 20000; i++ {
		v := lua.LNumber(math.Float64frombits(rnd.Uint64()))
		if i%2 == 0 {
			v = lua.LNumber(rnd.Int63() >> rnd.Intn(63))
		}
		if got := string(appendNumber(nil, v)); got != luanum.String(float64(v)) {
			t.Fatalf("appendNumber(%v) = %q, tostring gives %q", float64(v), got, luanum.String(float64(v)))
		}
	}
}

// TestNumbersHaveOneText checks that every way a script turns a number into text writes the
// same text, internal/luanum's (JavaScript's: no exponent from 1e-6 to 1e21), and that it reads
// back as the same number: tostring, "..", table.concat, string.format's %s, a gsub replacement,
// json.encode and print; tonumber reads it back, and reads what Lua 5.1 reads ("1e3", "010" as
// ten). gopher-lua's own tostring wrote a fractional timestamp as "1.796226846598926e+09", and
// its tonumber refused "1e3" and read "010" as octal.
func TestNumbersHaveOneText(t *testing.T) {
	var logs syncBuffer
	st, _ := sandboxState(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const script = `local out = {}
	for _, n in ipairs({1796226846.598926, 0.5, -2.25e-5, 1e-7, 1e20, 1e21, 12345678901234567890, 42}) do
		local s = tostring(n)
		local same = ("" .. n) == s and table.concat({n}) == s and string.format("%s", n) == s
			and (("x"):gsub("x", n)) == s and json.encode(n) == s and tonumber(s) == n
		print(n)
		out[#out + 1] = same and s or ("differ: " .. s .. "/" .. n .. "/" .. string.format("%s", n) .. "/" .. json.encode(n))
	end
	assert(tonumber("010") == 10 and tonumber("1e3") == 1000 and tonumber(" 0x10 ") == 16, "tonumber")
	assert(tonumber("ff", 16) == 255 and tonumber("1_0") == nil and tonumber("0b1") == nil, "tonumber")
	return table.concat(out, " ")`
	proto, err := compileSource("t", script)
	if err != nil {
		t.Fatal(err)
	}
	v, err := runAtLevel(st, proto)
	if err != nil {
		t.Fatal(err)
	}
	want := "1796226846.598926 0.5 -0.0000225 1e-7 100000000000000000000 1e+21 12345678901234567000 42"
	if v.String() != want {
		t.Errorf("got  %s\nwant %s", v, want)
	}
	for _, w := range strings.Fields(want) {
		if !strings.Contains(logs.String(), "msg="+w+"\n") {
			t.Errorf("print did not write %s: %s", w, logs.String())
		}
	}
}

// TestNumbersInHeadersAndParameters: a number assigned to a header or a parameter is the text
// tostring writes (gopher-lua's LNumber.String wrote 1.796226846598926e+09).
func TestNumbersInHeadersAndParameters(t *testing.T) {
	e := &echo{}
	ts := serve(t, Config{Scripts: scriptsFrom(t, "numbers")}, e.handle)
	if r := ts.do("GET", "/numbers", ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := e.lastSeen()
	want := map[string]string{"x-stamp": "1796226846.598926", "x-list": "1e-7"}
	for k, w := range want {
		if got.Headers[k] != w {
			t.Errorf("header %s = %q, want %q", k, got.Headers[k], w)
		}
	}
	if got.Query["small"] != "0.0000225" || got.Query["big"] != "100000000000000000000" {
		t.Errorf("query %v", got.Query)
	}
}

// showResults is a Lua function that writes a call's results as one string, for comparing them
// with Lua 5.1's ("true,4,3": pcall's status, then the values; strings quoted with %q).
const showResults = `local function show(...)
	local t = {}
	for i = 1, select('#', ...) do
		local v = select(i, ...)
		t[#t + 1] = type(v) == "string" and string.format("%q", v) or tostring(v)
	end
	return table.concat(t, ",")
end
`

// Edges of the string functions where fastlua once differed from Lua 5.1 (the results are Lua
// 5.1.5's): a back-reference to a position capture (a Go slice-bounds panic), an init past the
// end (Lua 5.2's nil), and unpack's range.
func TestStringEdgesFollowLua51(t *testing.T) {
	for _, c := range []struct{ call, want string }{
		{`("abc"):find("()%1")`, `true,nil`},
		{`("abc"):match("()(%1)")`, `true,nil`},
		{`("abc"):gsub("()%1", "x")`, `true,"abc",0`},
		{`("aXa"):find("(a)X%1")`, `true,1,3,"a"`},
		{`("abc"):find("", 10)`, `true,4,3`},
		{`("abc"):find("", 4)`, `true,4,3`},
		{`("abc"):find("", 10, true)`, `true,4,3`},
		{`("abc"):find("c", 10, true)`, `true,nil`},
		{`("abc"):find("x*", 100)`, `true,4,3`},
		{`("abc"):match("()", 10)`, `true,4`},
		{`("abc"):match("^$", 10)`, `true,""`},
		{`("abc"):find("b", -100)`, `true,2,2`},
		{`select('#', unpack({}, 1, 0))`, `true,0`},
		{`unpack({1, 2, 3}, -1, 1)`, `true,nil,nil,1`},
		{`("x"):gsub("x", "%%")`, `true,"%",1`},
		{`("x"):gsub("x", "%y")`, `true,"y",1`},
	} {
		_, run := sandboxState(t, Config{}) // a state of its own: a Go panic closes the state
		v, err := run(showResults + `return show(pcall(function() return ` + c.call + ` end))`)
		if err != nil || v.String() != c.want {
			t.Errorf("%s: %v %v, want %s (Lua 5.1)", c.call, v, err, c.want)
		}
	}
}

// string.find, match, gmatch and gsub give Lua 5.1.5's results and errors (recorded from it) on
// cases of every feature: replacement strings, tables and functions, counts, empty matches,
// anchors, position captures, %b, %f, plain finds, malformed patterns. (A gmatch case is a loop
// body that appends to out.)
func TestStringPatternsFollowLua51(t *testing.T) {
	_, run := sandboxState(t, Config{})
	position := regexp.MustCompile(`"<string>:\d+: `)
	for _, c := range []struct{ call, want string }{
		{`("hello world"):gsub("o", "0")`, `true,"hell0 w0rld",2`},
		{`("hello world"):gsub("o", "0", 1)`, `true,"hell0 world",1`},
		{`("hello world"):gsub("o", "0", 0)`, `true,"hello world",0`},
		{`("hello world"):gsub("o", "0", -1)`, `true,"hello world",0`},
		{`("hello world"):gsub("(o)", "[%1%1]")`, `true,"hell[oo] w[oo]rld",2`},
		{`("hello world"):gsub("%w+", "<%0>")`, `true,"<hello> <world>",2`},
		{`("hello"):gsub("", "-")`, `true,"-h-e-l-l-o-",6`},
		{`("abc"):gsub(".-", "-")`, `true,"-a-b-c-",4`},
		{`("abc"):gsub("x*", "-")`, `true,"-a-b-c-",4`},
		{`("baaac"):gsub("a*", "-")`, `true,"-b--c-",4`},
		{`("abc"):gsub("^.", "X")`, `true,"Xbc",1`},
		{`("abc"):gsub("^", "X")`, `true,"Xabc",1`},
		{`("abc"):gsub("$", "X")`, `true,"abcX",1`},
		{`("abc"):gsub("^x", "X")`, `true,"abc",0`},
		{`("abc def"):gsub("(%w+)", {abc = "ABC", def = false})`, `true,"ABC def",2`},
		{`("abc def"):gsub("%w+", {abc = 1.5})`, `true,"1.5 def",2`},
		{`("abc def"):gsub("(%w+) (%w+)", "%2 %1")`, `true,"def abc",1`},
		{`("abc"):gsub("()", "%1")`, `true,"1a2b3c4",4`},
		{`("abc"):gsub("b()", {[3] = "three"})`, `true,"athreec",1`},
		{`("abc"):gsub("%w", function(c) return c:upper() .. "." end)`, `true,"A.B.C.",3`},
		{`("abc"):gsub("%w", function(c) if c == "b" then return nil end return 1 end)`, `true,"1b1",3`},
		{`("x = 1, y = 2"):gsub("(%w+) = (%w+)", "%2 = %1")`, `true,"1 = x, 2 = y",2`},
		{`("$name is $age"):gsub("%$(%w+)", {name = "joe", age = 42})`, `true,"joe is 42",2`},
		{`("abc"):gsub("", "%0%0")`, `true,"abc",4`},
		{`("a,b,,c"):gsub(",", ";")`, `true,"a;b;;c",3`},
		{`("  trim  "):gsub("^%s*(.-)%s*$", "%1")`, `true,"trim",1`},
		{`("THE (quick) fox"):gsub("%f[%a]%a+", "W")`, `true,"W (W) W",3`},
		{`("f(a(b)c) g(d)"):gsub("%b()", "")`, `true,"f g",2`},
		{`("abc"):gsub("b", "%%")`, `true,"a%c",1`},
		{`("abc"):gsub("b", "%x")`, `true,"axc",1`},
		{`("abc"):gsub(".", {a = true})`, `false,"invalid replacement value (a boolean)"`},
		{`("abc"):gsub(".", function() return {} end)`, `false,"invalid replacement value (a table)"`},
		{`("abc"):gsub("(", "x")`, `true,"xaxbxcx",4`},
		{`("abc"):gsub("%", "x")`, `false,"malformed pattern (ends with '%')"`},
		{`("abc"):gsub("b", "%2")`, `false,"invalid capture index"`},
		{`("abc"):gsub("(b)", "%2")`, `false,"invalid capture index"`},
		{`("hello"):match("(h)(e)")`, `true,"h","e"`},
		{`("hello"):match("()ll()")`, `true,3,5`},
		{`("hello"):match(".-(l+)(.*)")`, `true,"ll","o"`},
		{`("hello"):match("x")`, `true,nil`},
		{`("  key = value  "):match("^%s*(%S+)%s*=%s*(%S+)%s*$")`, `true,"key","value"`},
		{`("hello"):find("l")`, `true,3,3`},
		{`("hello"):find("l", 1, true)`, `true,3,3`},
		{`("hello"):find("(l)(l)")`, `true,3,4,"l","l"`},
		{`("a.b"):find(".", 1, true)`, `true,2,2`},
		{`("a.b"):find("%.")`, `true,2,2`},
		{`("hello"):find("o", -1)`, `true,5,5`},
		{`("hello"):find("h", -10)`, `true,1,1`},
		{`("hello"):find("lo$")`, `true,4,5`},
		{`string.find("a+b", "+", 1, true)`, `true,2,2`},
		{`string.find("abc", "[a-")`, `false,"malformed pattern (missing ']')"`},
		{`string.find("abc", "[]")`, `false,"malformed pattern (missing ']')"`},
		{`string.find("abc", "%g")`, `true,nil`},
		{`for k, v in ("a=1, b=2, c=3"):gmatch("(%w+)=(%w+)") do out[#out + 1] = k .. v end`, `true,"a1,b2,c3"`},
		{`for w in ("one two  three"):gmatch("%a+") do out[#out + 1] = w end`, `true,"one,two,three"`},
		{`for w in ("abc"):gmatch("") do out[#out + 1] = "[" .. w .. "]" end`, `true,"[],[],[],[]"`},
		{`for w in ("abc"):gmatch(".-") do out[#out + 1] = "[" .. w .. "]" end`, `true,"[],[],[],[]"`},
		{`for p in ("abc"):gmatch("()") do out[#out + 1] = p end`, `true,"1,2,3,4"`},
		{`for w in ("^a^a"):gmatch("^a") do out[#out + 1] = w end`, `true,"^a,^a"`},
		{`for a, b in ("xaybzc"):gmatch("(%a)()") do out[#out + 1] = a .. b end`, `true,"x2,a3,y4,b5,z6,c7"`},
		{`for w in ("aaa"):gmatch("a*") do out[#out + 1] = "[" .. w .. "]" end`, `true,"[aaa],[]"`},
		{`for w in ("f(a) g(b(c))"):gmatch("%b()") do out[#out + 1] = w end`, `true,"(a),(b(c))"`},
		{`for w in ("THE (quick) fox"):gmatch("%f[%a]%a+") do out[#out + 1] = w end`, `true,"THE,quick,fox"`},
	} {
		src := showResults + `return show(pcall(function() return ` + c.call + ` end))`
		if strings.HasPrefix(c.call, "for ") {
			src = showResults + `return show(pcall(function() local out = {} ` + c.call + ` return table.concat(out, ",") end))`
		}
		v, err := run(src)
		if err != nil {
			t.Errorf("%s: %v", c.call, err)
			continue
		}
		if got := position.ReplaceAllString(v.String(), `"`); got != c.want {
			t.Errorf("%s: %s, want %s (Lua 5.1)", c.call, got, c.want)
		}
	}
}

// Where fastlua refuses what Lua 5.1 does on purpose: a replacement string that ends with '%'
// (Lua 5.1 appends a zero byte, reading the C string's terminator; Lua 5.2 raises this error),
// and unpack of more values than the value stack holds, whatever the range's sign (it once
// raised gopher-lua's bare "registry overflow").
func TestStringEdgesRefused(t *testing.T) {
	for _, c := range []struct{ call, want string }{
		{`("x"):gsub("x", "a%")`, `invalid use of '%' in replacement string (it ends with '%'; write '%%' for a '%')`},
		{`("x"):gsub("x", "%")`, `invalid use of '%' in replacement string`},
		{`unpack({}, -100000, 0)`, `unpack: 100001 results, more than the value stack holds (Config.MaxStackSlots, 65536)`},
		{`unpack({}, 1, 1e6)`, `unpack: 1000000 results, more than the value stack holds (Config.MaxStackSlots, 65536)`},
		{`unpack({}, -2^62, 2^62)`, `results, more than the value stack holds (Config.MaxStackSlots, 65536)`},
		{`unpack({}, -2^63, 2^63 - 1024)`, `results, more than the value stack holds (Config.MaxStackSlots, 65536)`},
	} {
		_, run := sandboxState(t, Config{MaxStackSlots: 1 << 16})
		_, err := run(`return (` + c.call + `)`)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.call, err, c.want)
		}
	}
}
