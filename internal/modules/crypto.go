package modules

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The crypto module: digests (hex or raw), HMAC, random bytes and a constant-time comparison.
// A digest is computed into a stack buffer from the Lua string's own bytes, so md5..sha512
// allocate only their result.

// maxRandomBytes bounds one crypto.random_bytes call (and MaxString, when it is smaller).
const maxRandomBytes = 1 << 20

// digests are the hash functions, by the name scripts use.
var digests = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

func (m *lib) openCrypto(L *lua.LState) *lua.LTable {
	fns := map[string]fn{
		"hmac":         cryptoHMAC,
		"random_bytes": cryptoRandomBytes,
		"equal":        cryptoEqual,
	}
	for name := range digests {
		fns[name] = func(a args) int {
			s, raw := a.str(1), a.raw(2)
			var sum [sha512.Size]byte
			return a.pushDigest(digest(name, bytesOf(s), sum[:0]), raw)
		}
	}
	return m.register(L, "crypto", fns)
}

// digest appends the digest of b by the named function to dst.
func digest(name string, b, dst []byte) []byte {
	switch name {
	case "md5":
		s := md5.Sum(b)
		return append(dst, s[:]...)
	case "sha1":
		s := sha1.Sum(b)
		return append(dst, s[:]...)
	case "sha256":
		s := sha256.Sum256(b)
		return append(dst, s[:]...)
	case "sha512":
		s := sha512.Sum512(b)
		return append(dst, s[:]...)
	}
	panic("modules: no digest " + name)
}

// pushDigest pushes sum as lower-case hex, or as it is when raw.
func (a args) pushDigest(sum []byte, raw bool) int {
	if raw {
		a.L.Push(lua.LString(sum))
		return 1
	}
	var buf [2 * sha512.Size]byte
	n := hex.Encode(buf[:], sum)
	a.L.Push(lua.LString(buf[:n]))
	return 1
}

// cryptoHMAC is crypto.hmac(alg, key, msg [, raw]).
func cryptoHMAC(a args) int {
	alg := a.str(1)
	newHash, ok := digests[strings.ToLower(alg)]
	if !ok {
		a.argError(1, `"md5", "sha1", "sha256" or "sha512" expected, got %q`, alg)
	}
	key := a.str(2)
	msg := a.str(3)
	raw := a.raw(4)
	mac := hmac.New(newHash, bytesOf(key))
	mac.Write(bytesOf(msg))
	var sum [sha512.Size]byte
	return a.pushDigest(mac.Sum(sum[:0]), raw)
}

// cryptoRandomBytes is crypto.random_bytes(n).
func cryptoRandomBytes(a args) int {
	n := a.integer(1)
	if n < 0 {
		a.argError(1, "a non-negative integer expected, got %d", n)
	}
	if n > a.m.o.MaxString {
		a.stringLimit(n)
	}
	if n > maxRandomBytes {
		a.limit("%d bytes is more than its limit of %d bytes per call", n, maxRandomBytes)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(a.m.o.Rand, buf); err != nil {
		a.fail("the random source failed: %v", err)
	}
	a.L.Push(lua.LString(stringOf(buf)))
	return 1
}

// cryptoEqual is crypto.equal(a, b): true when the strings are equal, in a time that depends on
// their lengths only.
func cryptoEqual(a args) int {
	x, y := a.str(1), a.str(2)
	a.L.Push(lua.LBool(subtle.ConstantTimeCompare(bytesOf(x), bytesOf(y)) == 1))
	return 1
}
