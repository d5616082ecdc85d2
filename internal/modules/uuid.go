package modules

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// The uuid module: RFC 9562 versions 4 (random) and 7 (Unix milliseconds, then a counter and
// random bits), as lower-case canonical text.
//
// A v7 is monotonic within a millisecond by RFC 9562 §6.2's method 1: rand_a and the first 30
// bits of rand_b are a 42-bit counter, seeded at random (with its top bit clear, so it has room
// to count) on each new millisecond and incremented within one; the last 32 bits are random. The
// counter is shared by all states, so the v7s of one process sort in the order they were made
// while the clock does not move back. Should the counter run out, the timestamp moves on by a
// millisecond.

// v7State is the last v7 made: its millisecond and counter.
var v7State struct {
	sync.Mutex
	ms      int64
	counter uint64
}

const counterBits = 42

func (m *lib) openUUID(L *lua.LState) *lua.LTable {
	return m.register(L, "uuid", map[string]fn{
		"v4": func(a args) int {
			var u [16]byte
			a.random(u[:])
			u[6] = u[6]&0x0f | 0x40
			u[8] = u[8]&0x3f | 0x80
			return a.pushUUID(u)
		},
		"v7": func(a args) int {
			var r [10]byte
			a.random(r[:])
			ms, counter := nextV7(max(a.m.o.Now().UnixMilli(), 0), r[:6])
			var u [16]byte
			binary.BigEndian.PutUint64(u[:8], uint64(ms)<<16|0x7000|counter>>30)
			binary.BigEndian.PutUint32(u[8:12], uint32(counter&(1<<30-1))|0x80000000)
			copy(u[12:], r[6:])
			return a.pushUUID(u)
		},
	})
}

// nextV7 returns the millisecond and counter of the next v7; seed is random bytes for a new
// counter.
func nextV7(ms int64, seed []byte) (int64, uint64) {
	v7State.Lock()
	defer v7State.Unlock()
	if ms == v7State.ms {
		v7State.counter++
		if v7State.counter < 1<<counterBits {
			return ms, v7State.counter
		}
		ms++ // the counter ran out: move on a millisecond
	}
	var b [8]byte
	copy(b[2:], seed)
	v7State.ms = ms
	v7State.counter = binary.BigEndian.Uint64(b[:]) & (1<<(counterBits-1) - 1)
	return ms, v7State.counter
}

// random fills b from Options.Rand.
func (a args) random(b []byte) {
	if _, err := io.ReadFull(a.m.o.Rand, b); err != nil {
		a.fail("the random source failed: %v", err)
	}
}

func (a args) pushUUID(u [16]byte) int {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	a.L.Push(lua.LString(buf[:]))
	return 1
}
