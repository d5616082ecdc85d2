package modules

import "testing"

func TestURLErrors(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return url.encode()`, "bad argument #1 to url.encode (string expected, got no value)", true},
		{`return url.decode("100%")`, `url.decode: invalid escape "%" at byte 3: % must be followed by two hex digits`, true},
		{`return url.decode("a%zzb")`, `url.decode: invalid escape "%zz" at byte 1`, true},
		{`return url.decode_query("a+%4")`, `url.decode_query: invalid escape "%4" at byte 2`, true},
		{`return url.parse_query("a=1&b=%x1")`, `url.parse_query: invalid escape "%x1" at byte 6`, true},
		{`return url.parse_query("?a=1&%G=1")`, `url.parse_query: invalid escape "%G=" at byte 5`, true},
		{`return url.parse_query({})`, "bad argument #1 to url.parse_query (string expected, got table)", true},
		{`return url.build_query("a=1")`, "bad argument #1 to url.build_query (table expected, got string)", true},
		{`return url.build_query({a = {b = 1}})`, `bad argument #1 to url.build_query (the value of "a" is a table that is not a list (nested tables are not supported))`, true},
		{`return url.build_query({a = {1, {2}}})`, `bad argument #1 to url.build_query (the value of "a" holds a table: strings, numbers or booleans expected)`, true},
		{`return url.build_query({a = print})`, `bad argument #1 to url.build_query (the value of "a" is a function: strings, numbers, booleans or lists of them expected)`, true},
		{`return url.build_query({[true] = 1})`, "bad argument #1 to url.build_query (keys must be strings or numbers, got a boolean)", true},
		{`return url.parse("http://[::1")`, `url.parse: "http://[::1" is not a URL: missing ']' in host`, true},
		{`return url.parse("http://h:port/")`, `url.parse: "http://h:port/" is not a URL: invalid port ":port" after host`, true},
		{`return url.parse(nil)`, "bad argument #1 to url.parse (string expected, got nil)", true},
	})
}

// TestBuildQueryPairs checks that build_query walks a value with a __pairs metamethod (as
// event.request.parameters is), with that iterator.
func TestBuildQueryPairs(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`local data = {b = "2", a = "1"}
		  local proxy = setmetatable({}, {__pairs = function() return next, data, nil end})
		  return url.build_query(proxy)`, `"a=1&b=2"`, false},
	})
}

// TestEncodeQuerySpaces checks that encode_query writes a space as '+' also when nothing else is
// escaped (the output is then as long as the input: it was returned unchanged).
func TestEncodeQuerySpaces(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return url.encode_query("a b")`, `"a+b"`, false},
		{`return url.encode_query("a b~")`, `"a+b~"`, false},
		{`return url.encode_query(" ")`, `"+"`, false},
		{`return url.encode_query("a b&")`, `"a+b%26"`, false},
		{`return url.encode("a b")`, `"a%20b"`, false},
		{`return url.encode_query("ab")`, `"ab"`, false},
	})
}
