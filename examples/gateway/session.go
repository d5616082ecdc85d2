package main

// The session flags: platform.session built from each request by package fastluasession.
// Without -session-url and -jwt-key the session holds the request's api_key and session_token
// only; with them, also the user and role that the endpoint or the token vouches for.

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/fastlua/fastlua/fastluasession"
	"github.com/prometheus/client_golang/prometheus"
)

// sessionOptions are the session flags.
type sessionOptions struct {
	url                    string
	ttl, timeout           time.Duration
	jwtKey, roleClaim      string
	issuer, audience       string
	apiKeyHeader, tokenHdr string
}

// addSessionFlags defines the session flags on fs.
func addSessionFlags(fs *flag.FlagSet) *sessionOptions {
	o := &sessionOptions{}
	fs.StringVar(&o.url, "session-url", "", "introspection endpoint at `URL` for platform.session.user, called with the request's credentials (DreamFactory: http://HOST/api/v2/user/session)")
	fs.DurationVar(&o.ttl, "session-ttl", 60*time.Second, "how long a -session-url answer or a verified token is cached per credential")
	fs.DurationVar(&o.timeout, "session-timeout", 500*time.Millisecond, "timeout of a -session-url call (keep it below -time-limit)")
	fs.StringVar(&o.jwtKey, "jwt-key", "", "`FILE` holding an HMAC secret (a trailing newline is ignored) or a PEM public key (RSA, ECDSA) that verifies session tokens that are JWTs")
	fs.StringVar(&o.roleClaim, "jwt-role-claim", "role", "the JWT claim that names the role")
	fs.StringVar(&o.issuer, "jwt-issuer", "", "the iss a JWT must have (not checked when empty)")
	fs.StringVar(&o.audience, "jwt-audience", "", "an aud a JWT must have (not checked when empty)")
	fs.StringVar(&o.apiKeyHeader, "api-key-header", "X-DreamFactory-Api-Key", "the header of the API key (else the api_key query parameter)")
	fs.StringVar(&o.tokenHdr, "session-token-header", "X-DreamFactory-Session-Token", "the header of the session token (else Authorization: Bearer)")
	return o
}

// builder returns the session builder the flags describe; its Hook is fastlua.Config.Session.
func (o *sessionOptions) builder(logger *slog.Logger) (*fastluasession.Builder, error) {
	cfg := fastluasession.Config{
		APIKeyHeader: o.apiKeyHeader, SessionTokenHeader: o.tokenHdr,
		SessionURL: o.url, TTL: o.ttl, Timeout: o.timeout,
		RoleClaim: o.roleClaim, Issuer: o.issuer, Audience: o.audience,
		Logger: logger,
	}
	if o.jwtKey != "" {
		key, err := os.ReadFile(o.jwtKey)
		if err != nil {
			return nil, fmt.Errorf("-jwt-key: %w", err)
		}
		cfg.JWTKey = bytes.TrimRight(key, "\r\n")
	}
	b, err := fastluasession.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("the session flags: %w", err)
	}
	return b, nil
}

// sessionCollector exports a session builder's counters (fastluasession.Stats) on /metrics:
//
//	fastlua_session_sessions_total                sessions built (requests whose scripts read one)
//	fastlua_session_lookups_total{result}         credentials answered: cache_hit, shared (by a
//	                                              lookup in flight)
//	fastlua_session_introspections_total{result}  -session-url calls: user, rejected (401, 403),
//	                                              failed (transport, timeout, other status, bad answer)
//	fastlua_session_jwt_total{result}             JWTs: verified, invalid
//	fastlua_session_cached                        credentials in the cache
type sessionCollector struct {
	b                                       *fastluasession.Builder
	sessions, lookups, introspections, jwts *prometheus.Desc
	cached                                  *prometheus.Desc
}

func newSessionCollector(b *fastluasession.Builder) *sessionCollector {
	result := []string{"result"}
	return &sessionCollector{
		b:              b,
		sessions:       prometheus.NewDesc("fastlua_session_sessions_total", "Sessions built for platform.session.", nil, nil),
		lookups:        prometheus.NewDesc("fastlua_session_lookups_total", "Credentials answered without a new lookup: cache_hit, shared (by a lookup in flight for another request).", result, nil),
		introspections: prometheus.NewDesc("fastlua_session_introspections_total", "Calls to -session-url by result: user, rejected (401 or 403), failed (transport error, timeout, another status, a bad answer). Rejected and failed leave the session without a user.", result, nil),
		jwts:           prometheus.NewDesc("fastlua_session_jwt_total", "Bearer JWTs checked with -jwt-key by result: verified, invalid (signature, algorithm, exp, nbf, iat, iss, aud, no user claim).", result, nil),
		cached:         prometheus.NewDesc("fastlua_session_cached", "Credentials in the session cache, expired ones included.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.lookups, c.introspections, c.jwts, c.cached} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	counter(c.sessions, st.Sessions)
	counter(c.lookups, st.CacheHits, "cache_hit")
	counter(c.lookups, st.Shared, "shared")
	counter(c.introspections, st.IntrospectionUsers, "user")
	counter(c.introspections, st.IntrospectionRejected, "rejected")
	counter(c.introspections, st.IntrospectionFailed, "failed")
	counter(c.jwts, st.JWTVerified, "verified")
	counter(c.jwts, st.JWTInvalid, "invalid")
	ch <- prometheus.MustNewConstMetric(c.cached, prometheus.GaugeValue, float64(st.Cached))
}

// logSessionStats logs a builder's counters (when the gateway stops).
func logSessionStats(logger *slog.Logger, b *fastluasession.Builder) {
	st := b.Stats()
	logger.Info("session counters", "sessions", st.Sessions, "cache_hits", st.CacheHits,
		"introspections", st.Introspections, "introspection_users", st.IntrospectionUsers,
		"introspection_rejected", st.IntrospectionRejected, "introspection_failed", st.IntrospectionFailed,
		"jwt_verified", st.JWTVerified, "jwt_invalid", st.JWTInvalid)
}
