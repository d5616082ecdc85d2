package fastluasession

// The cache of identities, and the one lookup per uncached credential.
//
// Entries are keyed by a SHA-256 hash of the credential (API key and token, length-prefixed),
// so the raw token is never a key, and carry their own expiry (TTL, NegativeTTL or FailureTTL,
// from the outcome). A credential missing from the cache (or expired) is looked up by one
// request, the flight's leader; others asking meanwhile wait for its result. The leader adds the
// entry to the cache before it leaves the flights, and a newcomer checks the cache again under
// the flights' lock, so a credential is never looked up twice at once.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// credKey is the cache key of a credential.
type credKey [sha256.Size]byte

func newCredKey(apiKey, token string) credKey {
	var buf [512]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(len(apiKey)))
	b = append(append(b, apiKey...), token...)
	return sha256.Sum256(b)
}

// String is a short form of the key for logs: it tells credentials apart without revealing one.
func (k credKey) String() string { return hex.EncodeToString(k[:6]) }

// entry is a cached outcome: an identity, or nil for a refusal or a failure.
type entry struct {
	id      *identity
	expires time.Time
}

// flight is a lookup in progress; done is closed when id is set.
type flight struct {
	done chan struct{}
	id   *identity
}

// cached returns the identity of key from the cache, or from lookup, called once for all the
// requests that ask at the same time.
func (b *Builder) cached(key credKey, lookup func() *entry) *identity {
	if id, ok := b.fresh(key); ok {
		return id
	}
	b.mu.Lock()
	if f, ok := b.flights[key]; ok {
		b.mu.Unlock()
		b.stats.shared.Add(1)
		<-f.done
		return f.id
	}
	if id, ok := b.fresh(key); ok { // a flight ended between the first look and the lock
		b.mu.Unlock()
		return id
	}
	f := &flight{done: make(chan struct{})}
	b.flights[key] = f
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.flights, key)
		b.mu.Unlock()
		close(f.done)
	}()
	e := lookup()
	b.cache.Add(key, e)
	f.id = e.id
	return e.id
}

// fresh returns the cached identity of key when the cache holds an unexpired outcome.
func (b *Builder) fresh(key credKey) (*identity, bool) {
	e, ok := b.cache.Get(key)
	if !ok || !b.cfg.Now().Before(e.expires) {
		return nil, false
	}
	b.stats.hits.Add(1)
	return e.id, true
}
