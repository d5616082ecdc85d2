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
	"github.com/valyala/fasthttp"
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

// hook returns the fastlua.Config.Session hook the flags describe.
func (o *sessionOptions) hook(logger *slog.Logger) (func(*fasthttp.RequestCtx) any, error) {
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
	return b.Hook, nil
}
