// Package fastluasession builds DreamFactory's platform.session from each request, for
// fastlua.Config.Session:
//
//	sessions, err := fastluasession.New(fastluasession.Config{
//		SessionURL: "http://127.0.0.1:8000/api/v2/user/session", // DreamFactory's own
//	})
//	if err != nil { ... }
//	mw, err := fastlua.New(fastlua.Config{Session: sessions.Hook})
//
// Scripts then read platform.session as DreamFactory's scripts do:
//
//	platform.session.api_key          the request's API key
//	platform.session.session_token    the request's session token
//	platform.session.session_id       the session's id, when the source names one
//	platform.session.user             id, name, email, first_name, last_name, is_sys_admin
//	platform.session.role             id, name
//	platform.session.app              id, name
//
// Keys without a value are absent, never empty strings: a request without a verified token has
// no user (platform.session.user is nil), and a user field the source did not give is nil.
// api_key and session_token are what the request carried, verified or not; only user, role, app
// and session_id come from a source that verified the token.
//
// # Credentials
//
// The API key is the X-DreamFactory-Api-Key header (Config.APIKeyHeader), or the api_key query
// parameter when the header is absent (Config.APIKeyParam). The session token is the
// X-DreamFactory-Session-Token header (Config.SessionTokenHeader), or the token of
// "Authorization: Bearer <token>" when that header is absent. A session token in the query
// string is not read: URLs end up in logs.
//
// # Introspection
//
// With Config.SessionURL, a request's token is checked by that endpoint: a GET with the API key
// in Config.APIKeyHeader (when the request had one) and the token in Config.SessionTokenHeader
// and in "Authorization: Bearer", so the endpoint judges exactly the credential the answer is
// cached under. For DreamFactory the endpoint is its own GET /api/v2/user/session (or
// /api/v2/system/admin/session for administrators). A 2xx answer is a JSON object, mapped so:
//
//	answer (or JWT claim)               platform.session
//	id                                  user.id
//	name, email, first_name, last_name  user.name, user.email, user.first_name, user.last_name
//	given_name, family_name             user.first_name, user.last_name when those are absent
//	is_sys_admin                        user.is_sys_admin (a boolean; a number is true when not 0)
//	role (a string: its name)           role.name
//	role (an object with id and name)   role.id, role.name
//	role_id                             role.id, when role did not give one
//	app (an object with id and name)    app.id, app.name (DreamFactory's answer has none)
//	session_id                          session_id
//	user (an object)                    read for the user fields instead of the top level
//
// Other fields (last_login_date, host, token_expiry_date, apps...) are not copied, and neither is
// the answer's session_token: session.session_token stays the token the request carried. An id
// is a number or a non-empty string; names are non-empty strings; a field of another type is
// left out. An answer that names no user field is a failure.
//
// Answers are cached per credential (API key and token together: DreamFactory's role depends on
// the app as well as the user), in a bounded LRU cache keyed by a SHA-256 hash of the credential
// (the raw token is never a key): a user for Config.TTL (60 s), a 401 or 403 for
// Config.NegativeTTL (5 s, so that a bad token cannot hammer the endpoint), a failure for
// Config.FailureTTL (1 s). A revoked session is therefore still seen for up to TTL. Concurrent
// requests with the same uncached credential make one call and share its answer. The call has
// Config.Timeout (500 ms). A 401 or 403 (logged at info level) and a failure (a transport error,
// a timeout, another status, an answer that is not a JSON object naming a user; logged as a
// warning) leave the session without a user, and are counted (Stats); the request itself never
// fails. A request without a session token makes no call.
//
// The session is built when a script first reads platform.session, so the call counts against
// that script's time limit (fastlua's Config.TimeLimit, one second by default): keep
// Config.Timeout well below it. The platform.api calls the request makes share its session.
// Requests whose scripts never read the session cost nothing, except those with queued
// scripts, whose session is built before the handler returns.
//
// # JWT
//
// With Config.JWTKey, a session token that is a JWT (three dot-separated segments) is verified
// locally with github.com/golang-jwt/jwt/v5. The key is an HMAC secret (at least 32 bytes:
// HS256, HS384, HS512) or a PEM public key, a certificate or an RSA PUBLIC KEY block (RSA: RS256,
// RS384, RS512; ECDSA P-256: ES256, P-384: ES384, P-521: ES512); the accepted algorithms are
// pinned to the key's kind, so a token signed HS256 with an RSA public key as its secret, or with
// alg "none", is refused. exp is required; exp, nbf and iat are checked with Config.Leeway (10 s);
// iss and aud are checked when Config.Issuer and Config.Audience are set. A verified token's
// claims are mapped as an introspection answer is (the table above), with sub as user.id and
// the claim Config.RoleClaim ("role") as the role. A verified token is cached until its exp or
// for TTL, whichever comes first; an invalid one for NegativeTTL (logged at info level and
// counted).
//
// With both, a token that is a JWT is verified with the key first; a token that is not a JWT,
// or one the key does not verify (DreamFactory's own tokens are JWTs signed with its key, an
// identity provider's with another), goes to SessionURL, whose answer decides. Without
// SessionURL a token the key does not verify gives no user; without JWTKey every token goes to
// SessionURL.
package fastluasession

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/valyala/fasthttp"
)

// Config configures a Builder. The zero value builds sessions with the request's API key and
// session token only; every field's comment says its default.
type Config struct {
	// APIKeyHeader names the header that carries the API key. Default "X-DreamFactory-Api-Key".
	APIKeyHeader string

	// APIKeyParam names the query parameter read for the API key when the header is absent.
	// Default "api_key"; "-" reads none.
	APIKeyParam string

	// SessionTokenHeader names the header that carries the session token; when it is absent,
	// the token of "Authorization: Bearer <token>" is used. Default
	// "X-DreamFactory-Session-Token".
	SessionTokenHeader string

	// SessionURL is the http:// or https:// URL of the introspection endpoint (see
	// "Introspection" in the package documentation). Default "": none.
	SessionURL string

	// TTL is how long a verified session is cached. Default 60 seconds.
	TTL time.Duration

	// NegativeTTL is how long a refused token (a 401 or 403 from SessionURL, a JWT that does
	// not verify) is cached. Default 5 seconds, at most TTL.
	NegativeTTL time.Duration

	// FailureTTL is how long a failed introspection call (transport error, timeout, another
	// status, a bad answer) is cached. Default one second, at most NegativeTTL.
	FailureTTL time.Duration

	// Timeout bounds an introspection call. Default 500 milliseconds.
	Timeout time.Duration

	// CacheSize bounds the cached credentials. Default 10000.
	CacheSize int

	// HTTPClient makes the introspection calls. Default a fasthttp.Client with Timeout for
	// reads and writes and answers of at most 64 KiB (a larger answer is a failure with any
	// client).
	HTTPClient *fasthttp.Client

	// JWTKey verifies session tokens that are JWTs: an HMAC secret of at least 32 bytes, or a
	// PEM public key or certificate (RSA or ECDSA). Default nil: none.
	JWTKey []byte

	// RoleClaim is the JWT claim that names the role: a string (its name) or an object with id
	// and name. Default "role".
	RoleClaim string

	// Issuer, when set, is the iss a JWT must have. Default "": not checked.
	Issuer string

	// Audience, when set, must be among a JWT's aud. Default "": not checked.
	Audience string

	// Leeway is the clock skew allowed when checking a JWT's exp, nbf and iat. Default 10
	// seconds.
	Leeway time.Duration

	// Logger receives the failures (warnings) and refusals (info). Default slog.Default().
	Logger *slog.Logger

	// Now is the clock of the cache and of JWT validation (for tests). Default time.Now.
	Now func() time.Time
}

// maxAnswerSize caps an introspection answer.
const maxAnswerSize = 64 << 10

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIKeyHeader == "" {
		c.APIKeyHeader = "X-DreamFactory-Api-Key"
	}
	if c.APIKeyParam == "" {
		c.APIKeyParam = "api_key"
	}
	if c.SessionTokenHeader == "" {
		c.SessionTokenHeader = "X-DreamFactory-Session-Token"
	}
	if c.TTL <= 0 {
		c.TTL = 60 * time.Second
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 5 * time.Second
	}
	c.NegativeTTL = min(c.NegativeTTL, c.TTL)
	if c.FailureTTL <= 0 {
		c.FailureTTL = time.Second
	}
	c.FailureTTL = min(c.FailureTTL, c.NegativeTTL)
	if c.Timeout <= 0 {
		c.Timeout = 500 * time.Millisecond
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &fasthttp.Client{ReadTimeout: c.Timeout, WriteTimeout: c.Timeout,
			MaxResponseBodySize: maxAnswerSize, NoDefaultUserAgentHeader: true}
	}
	if c.RoleClaim == "" {
		c.RoleClaim = "role"
	}
	if c.Leeway <= 0 {
		c.Leeway = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Builder builds sessions. It is safe for concurrent use.
type Builder struct {
	cfg   Config
	jwt   *verifier // nil without Config.JWTKey
	cache *lru.Cache[credKey, *entry]

	mu      sync.Mutex // guards flights
	flights map[credKey]*flight

	stats counters
}

// New makes a Builder. It fails when SessionURL is not an http:// or https:// URL or JWTKey
// is not a usable key.
func New(cfg Config) (*Builder, error) {
	cfg = cfg.withDefaults()
	if cfg.SessionURL != "" {
		u, err := url.Parse(cfg.SessionURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("fastluasession: Config.SessionURL %q is not an http:// or https:// URL", cfg.SessionURL)
		}
	}
	for _, h := range []struct{ field, name string }{{"APIKeyHeader", cfg.APIKeyHeader}, {"SessionTokenHeader", cfg.SessionTokenHeader}} {
		if strings.ContainsAny(h.name, " \t\r\n:") {
			return nil, fmt.Errorf("fastluasession: Config.%s %q is not a header name", h.field, h.name)
		}
	}
	b := &Builder{cfg: cfg, flights: map[credKey]*flight{}}
	if cfg.JWTKey != nil {
		v, err := newVerifier(cfg)
		if err != nil {
			return nil, err
		}
		b.jwt = v
	}
	cache, err := lru.New[credKey, *entry](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("fastluasession: %w", err)
	}
	b.cache = cache
	return b, nil
}

// Hook is Session as fastlua.Config.Session takes it.
func (b *Builder) Hook(ctx *fasthttp.RequestCtx) any { return b.Session(ctx) }

// Session builds the session of a request (see the package documentation). It never fails:
// what cannot be verified is left out. The map and the maps in it must not be changed.
func (b *Builder) Session(ctx *fasthttp.RequestCtx) map[string]any {
	b.stats.sessions.Add(1)
	apiKey, token := b.credentials(ctx)
	s := make(map[string]any, 6)
	if apiKey != "" {
		s["api_key"] = apiKey
	}
	if token == "" {
		return s
	}
	s["session_token"] = token
	if id := b.identity(apiKey, token); id != nil {
		id.fill(s)
	}
	return s
}

// credentials reads the API key and the session token of a request.
func (b *Builder) credentials(ctx *fasthttp.RequestCtx) (apiKey, token string) {
	h := &ctx.Request.Header
	apiKey = strings.TrimSpace(string(h.Peek(b.cfg.APIKeyHeader)))
	if apiKey == "" && b.cfg.APIKeyParam != "-" {
		apiKey = strings.TrimSpace(string(ctx.QueryArgs().Peek(b.cfg.APIKeyParam)))
	}
	token = strings.TrimSpace(string(h.Peek(b.cfg.SessionTokenHeader)))
	if token == "" {
		token = bearer(h.Peek(fasthttp.HeaderAuthorization))
	}
	return apiKey, token
}

// bearer returns the token of an "Authorization: Bearer <token>" value, or "".
func bearer(v []byte) string {
	scheme, rest, ok := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
	if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) {
		return ""
	}
	return string(bytes.TrimSpace(rest))
}

// identity returns what the configured sources say about a credential, or nil.
func (b *Builder) identity(apiKey, token string) *identity {
	useJWT := b.jwt != nil && looksLikeJWT(token)
	if !useJWT && b.cfg.SessionURL == "" {
		return nil // no source applies: nothing to look up or cache
	}
	key := newCredKey(apiKey, token)
	return b.cached(key, func() *entry { return b.resolve(key, apiKey, token, useJWT) })
}

// resolve asks the sources, in order (see "JWT" in the package documentation).
func (b *Builder) resolve(key credKey, apiKey, token string, useJWT bool) *entry {
	if useJWT {
		id, exp, err := b.jwt.verify(token)
		now := b.cfg.Now()
		if err == nil {
			b.stats.jwtVerified.Add(1)
			return &entry{id: id, expires: minTime(now.Add(b.cfg.TTL), exp)}
		}
		b.stats.jwtInvalid.Add(1)
		b.cfg.Logger.Info("fastluasession: the session token's JWT does not verify: the session has no user", "credential", key.String(), "error", err)
		if b.cfg.SessionURL == "" {
			return &entry{expires: now.Add(b.cfg.NegativeTTL)}
		}
	}
	return b.introspect(key, apiKey, token)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Stats are a Builder's counters since New.
type Stats struct {
	Sessions  uint64 // sessions built
	CacheHits uint64 // credentials answered from the cache
	Shared    uint64 // credentials answered by a lookup already in flight for another request

	Introspections        uint64 // calls made to SessionURL
	IntrospectionUsers    uint64 // of those, answered with a user
	IntrospectionRejected uint64 // of those, answered 401 or 403
	IntrospectionFailed   uint64 // of those, failed: transport error, timeout, another status, a bad answer

	JWTVerified uint64 // JWTs verified (a cached one is not verified again)
	JWTInvalid  uint64 // JWTs refused: signature, algorithm, exp, nbf, iat, iss, aud, no user claim

	Cached int // credentials in the cache now, expired ones included
}

type counters struct {
	sessions, hits, shared                     atomic.Uint64
	calls, callUsers, callRejected, callFailed atomic.Uint64
	jwtVerified, jwtInvalid                    atomic.Uint64
}

// Stats returns the counters.
func (b *Builder) Stats() Stats {
	c := &b.stats
	return Stats{
		Sessions: c.sessions.Load(), CacheHits: c.hits.Load(), Shared: c.shared.Load(),
		Introspections: c.calls.Load(), IntrospectionUsers: c.callUsers.Load(),
		IntrospectionRejected: c.callRejected.Load(), IntrospectionFailed: c.callFailed.Load(),
		JWTVerified: c.jwtVerified.Load(), JWTInvalid: c.jwtInvalid.Load(),
		Cached: b.cache.Len(),
	}
}

// errNoUser is the failure of an answer or a token that names no user.
var errNoUser = errors.New("fastluasession: no user field (id, sub, name, email, first_name, last_name)")
