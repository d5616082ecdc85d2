// Package modules holds the library modules DreamFactory scripts take for granted in PHP and
// JavaScript: crypto, base64, url, re, uuid and time. Open builds them for one Lua state as
// tables of Go functions; the sandbox registers them (as globals and for require) and makes
// them read-only.
//
//	crypto.md5|sha1|sha256|sha512(s [, raw])   hex digest (lower case); raw bytes when raw is true or "raw"
//	crypto.hmac(alg, key, msg [, raw])         alg "md5", "sha1", "sha256", "sha512" (any case)
//	crypto.random_bytes(n)                     n random bytes, 0 <= n <= min(1 MiB, MaxString)
//	crypto.equal(a, b)                         constant-time comparison (the length is not hidden)
//
//	base64.encode(s), base64.decode(s)         RFC 4648 §4, padded on encode
//	base64.url_encode(s), base64.url_decode(s) RFC 4648 §5, unpadded on encode
//
//	url.encode(s), url.decode(s)               component form: space is %20 (PHP rawurlencode)
//	url.encode_query(s), url.decode_query(s)   query form: space is + (PHP urlencode)
//	url.parse_query(s)                         -> {key = value | {values...}}
//	url.build_query(t)                         -> "a=1&b=x+y", keys sorted
//	url.parse(u)                               -> {scheme, user, password, host, hostname, port, path, query, fragment}
//
//	re.match(s, pattern [, init])              -> captures, or the whole match; nil if none
//	re.find(s, pattern [, init])               -> start, end (1-based, inclusive), captures...
//	re.gmatch(s, pattern)                      -> an iterator over the matches, as re.match returns them
//	re.find_all(s, pattern [, n])              -> {match, ...}; each a string, or a table of captures
//	re.gsub(s, pattern, repl [, n])            -> new string, count; repl a string ($1, ${name}), table or function
//	re.split(s, pattern [, n])                 -> {piece, ...}
//
//	uuid.v4(), uuid.v7()                       RFC 9562, lower-case canonical text
//
//	time.now()                                 seconds since the epoch, with sub-second precision
//	time.format(t, layout [, tz])              layout "rfc3339", "rfc3339nano" or strftime-style
//	time.parse(s, layout [, tz])               -> seconds; tz is the zone of text without an offset
//
// # Decisions
//
// Strings are byte strings, as in Lua 5.1. A string argument may be a number, converted as Lua
// does; a number argument must be a number (say tonumber for text). Errors are raised (catch them with pcall), as json.decode does; an error about the data
// names the byte offset (0-based) of the problem. Argument errors read like gopher-lua's own,
// with the function's full name: "bad argument #1 to crypto.md5 (string expected, got nil)".
//
// base64: decode accepts text with or without padding; when padding is present it must be
// right. Line breaks (\r, \n) are skipped, anything else outside the alphabet is an error.
//
// url: encode keeps RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) and escapes every
// other byte as %XX (upper case hex), like PHP's rawurlencode; JavaScript's encodeURIComponent
// also keeps ! ' ( ) *. encode_query is Go's url.QueryEscape: the same, with space as +. The
// decoders refuse a % that is not followed by two hex digits. parse_query splits on & only,
// skips a leading ?, decodes + as space; a key given once maps to a string, a key given more
// than once to a list of its values in order (Go's url.Values, not PHP's last-wins), so
// build_query(parse_query(q)) keeps every value. Brackets in keys have no meaning ("a[]" is a
// key). build_query writes keys in sorted order; a value is a string, number or boolean, or a
// list of them (the key repeats); a key with an empty list is left out; a value with a __pairs
// metamethod (event.request.parameters) is walked with it. parse is Go's url.Parse: fields that
// are empty are left out, port is a number, user and password are decoded, path, query and
// fragment are the escaped text (for an opaque URL such as mailto:x@y, path is what follows the
// scheme).
//
// re: patterns are Go's regexp syntax (RE2), matched as UTF-8 text; positions are byte
// positions. RE2 does not backtrack, but a match still costs up to the subject's length times
// the compiled pattern's size, in Go code that the time limit cannot stop; so a pattern is at
// most MaxPattern bytes, compiled to at most MaxInstructions instructions, and a call refuses a
// subject whose length times the pattern's instructions passes MaxSteps (a pattern of 20
// instructions may search 1.6 MB). gsub, find_all and split check the state's context between
// two matches, so the time limit stops them there. The search of re.match and re.find starts
// at init as if the string began there (^ matches at init, as in string.find). A group that did
// not take part in the match is false (not nil, so lists have no holes). A match of a pattern
// with groups is its captures (one value each); without groups, the whole match. find_all
// returns a list of strings for a pattern without groups and a list of tables of captures
// ({[1] = ..., name = ...} for named groups) otherwise; its list counts against MaxString (each
// entry its text and 16 bytes), as does split's: re.gmatch iterates without a list. Successive
// matches (gmatch, find_all, gsub, split) follow Go's FindAll: an empty match right after a
// match is skipped. gsub's string replacement is Go's Regexp.Expand syntax: $1 or ${1} for a
// group, ${name} or $name for a named group, $$ for a $; $1x means the group named "1x" (empty):
// write ${1}x. A replacement function gets the captures (or the whole match) and a table is
// indexed with the first capture (or the whole match); a result of nil or false keeps the
// match; the count is the number of matches. n is at most n matches (find_all) or replacements
// (gsub), all when nil or negative. split(s, pattern, n) is Go's Regexp.Split: n < 0 (the
// default) all pieces, n = 0 none, n > 0 at most n pieces. Compiled patterns are kept in a cache
// shared by all states.
//
// uuid: v7 takes its timestamp from Options.Now, and is monotonic within a millisecond (RFC 9562
// §6.2, method 1: a 42-bit counter seeded at random, after the timestamp); a clock that moves
// back gives smaller UUIDs, as it says.
//
// time: a time is a number of seconds since the epoch, taken to the microsecond (a float has
// about 0.25 µs of precision at today's dates), between the years 1 and 9999. tz is "UTC" (the
// default; also "Z" and "GMT"), "local" (the process's zone), an offset ("+02:00", "-0530",
// "+02") or a zone database name ("Europe/Paris"), which works when the program has a zone
// database: the system's, or Go's own when the program imports time/tzdata; without one it is an
// error naming the zone. strftime-style layouts support %Y %m %d %H %M %S %y %b %B %a %A %j %p
// %I %Z %z %s %f (microseconds) %F (%Y-%m-%d) %T (%H:%M:%S) and %%; anything else is an error.
// A layout is at most 256 bytes. parse reads numbers of a fixed width (%Y four digits, the
// others two, %j three, %f one to nine), names in any case, %z as +hhmm, +hh:mm or Z, %Z as
// UTC, GMT or Z; a weekday is checked for its spelling only; the text must match the layout
// exactly, to its end.
package modules
