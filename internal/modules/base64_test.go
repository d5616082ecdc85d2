package modules

import "testing"

func TestBase64Errors(t *testing.T) {
	runCases(t, Options{}, []luaCase{
		{`return base64.encode()`, "bad argument #1 to base64.encode (string expected, got no value)", true},
		{`return base64.decode(true)`, "bad argument #1 to base64.decode (string expected, got boolean)", true},
		{`return base64.decode("Zm9v!mFy")`, "base64.decode: invalid base64 at byte 4", true},
		{`return base64.decode("Zm9v YmFy")`, "base64.decode: invalid base64 at byte 4", true},
		{`return base64.decode("Zg=")`, "base64.decode: invalid base64 at byte", true},            // padding present must be right
		{`return base64.decode("Zm9=v")`, "base64.decode: invalid base64 at byte", true},          // no data after padding
		{`return base64.decode("Z")`, "base64.decode: invalid base64 at byte", true},              // one character is no byte
		{`return base64.decode("-_-_")`, "base64.decode: invalid base64 at byte 0", true},         // the URL alphabet
		{`return base64.url_decode("+/+/")`, "base64.url_decode: invalid base64 at byte 0", true}, // the standard one
		{`return base64.decode("Zm9v\nYmF")`, `"fooba"`, false},
	})
}
