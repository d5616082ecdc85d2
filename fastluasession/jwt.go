package fastluasession

// Local verification of session tokens that are JWTs, with github.com/golang-jwt/jwt/v5.
//
// The key decides the algorithms, once, in New: an HMAC secret accepts HS256/384/512 only, an
// RSA key RS256/384/512 only, an ECDSA key the one ES algorithm of its curve. The parser is
// given that list (jwt.WithValidMethods), so a token's alg header never chooses how its key is
// used: an HS256 token "signed" with the RSA public key as its secret, or alg "none", is refused
// before any signature is computed.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// minHMACKey is the shortest HMAC secret accepted: RFC 7518, 3.2, asks for a key at least as
// long as the hash (256 bits for HS256).
const minHMACKey = 32

// verifier checks JWTs against one key.
type verifier struct {
	key       any
	parser    *jwt.Parser
	roleClaim string
}

func newVerifier(cfg Config) (*verifier, error) {
	key, methods, err := parseKey(cfg.JWTKey)
	if err != nil {
		return nil, fmt.Errorf("fastluasession: Config.JWTKey: %w", err)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &verifier{key: key, parser: jwt.NewParser(opts...), roleClaim: cfg.RoleClaim}, nil
}

// parseKey reads an HMAC secret or a PEM public key, and returns the algorithms it verifies.
func parseKey(b []byte) (any, []string, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		if len(b) < minHMACKey {
			return nil, nil, fmt.Errorf("an HMAC secret of %d bytes: at least %d are needed", len(b), minHMACKey)
		}
		return bytes.Clone(b), []string{"HS256", "HS384", "HS512"}, nil
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, nil, errors.New("a PEM block that does not decode")
	}
	var pub any
	var err error
	switch {
	case block.Type == "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, nil, fmt.Errorf("a %s: give the public key (openssl pkey -pubout)", block.Type)
	default:
		return nil, nil, fmt.Errorf("a PEM block of type %q, not a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the %s does not parse: %w", block.Type, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k, []string{"RS256", "RS384", "RS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, []string{"ES256"}, nil
		case elliptic.P384():
			return k, []string{"ES384"}, nil
		case elliptic.P521():
			return k, []string{"ES512"}, nil
		}
		return nil, nil, fmt.Errorf("an ECDSA key on %s: P-256, P-384 or P-521 is needed", k.Curve.Params().Name)
	}
	return nil, nil, fmt.Errorf("a %T: RSA or ECDSA is needed", pub)
}

// looksLikeJWT reports whether a token has a JWS's compact form: three dot-separated segments.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

// verify checks a token and maps its claims; exp is when it expires.
func (v *verifier) verify(token string) (id *identity, exp time.Time, err error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		return nil, exp, err
	}
	e, err := claims.GetExpirationTime()
	if err != nil || e == nil { // the parser requires exp: not reached
		return nil, exp, errors.New("fastluasession: a token without exp")
	}
	if id, err = fromFields(map[string]any(claims), "sub", v.roleClaim); err != nil {
		return nil, exp, err
	}
	return id, e.Time, nil
}
