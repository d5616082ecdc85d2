package fastluasession

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys are made once per test binary: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	hmac, hmac2           []byte
	rsa, rsa2             *rsa.PrivateKey
	ec, ec2               *ecdsa.PrivateKey
	rsaPEM, ecPEM         []byte
	rsaPKCS1PEM, ec384PEM []byte
}) {
	k.hmac, k.hmac2 = make([]byte, 32), make([]byte, 32)
	rand.Read(k.hmac)
	rand.Read(k.hmac2)
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	k.rsaPEM, k.ecPEM, k.ec384PEM = pkixPEM(&k.rsa.PublicKey), pkixPEM(&k.ec.PublicKey), pkixPEM(&ec384.PublicKey)
	k.rsaPKCS1PEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	return k
})

func pkixPEM(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign makes a token; claims' "exp" etc. are set by the caller.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT(t *testing.T) {
	k := testKeys()
	clk := newClock()
	now := clk.Now()
	user := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u1", "email": "ada@example.com", "name": "Ada", "role": "editor",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for key, v := range extra {
			if v == nil {
				delete(c, key)
			} else {
				c[key] = v
			}
		}
		return c
	}
	tamper := func(tok string) string { // the payload changed, the signature kept
		parts := strings.Split(tok, ".")
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","email":"eve@example.com","exp":` +
			fmt.Sprint(now.Add(time.Hour).Unix()) + `}`))
		return strings.Join(parts, ".")
	}
	valid := map[string]any{"id": "u1", "email": "ada@example.com", "name": "Ada"}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, user(nil))

	for _, tc := range []struct {
		name  string
		cfg   Config
		token string
		user  map[string]any // nil: no user
	}{
		{"HS256", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(nil)), valid},
		{"HS512", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS512, k.hmac, user(nil)), valid},
		{"RS256", Config{JWTKey: k.rsaPEM}, sign(t, jwt.SigningMethodRS256, k.rsa, user(nil)), valid},
		{"RS256, an RSA PUBLIC KEY block", Config{JWTKey: k.rsaPKCS1PEM}, sign(t, jwt.SigningMethodRS256, k.rsa, user(nil)), valid},
		{"ES256", Config{JWTKey: k.ecPEM}, sign(t, jwt.SigningMethodES256, k.ec, user(nil)), valid},
		{"HS256 with another secret", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac2, user(nil)), nil},
		{"RS256 with another key", Config{JWTKey: k.rsaPEM}, sign(t, jwt.SigningMethodRS256, k.rsa2, user(nil)), nil},
		{"ES256 with another key", Config{JWTKey: k.ecPEM}, sign(t, jwt.SigningMethodES256, k.ec2, user(nil)), nil},
		{"alg confusion: HS256 with the RSA public key as the secret", Config{JWTKey: k.rsaPEM},
			sign(t, jwt.SigningMethodHS256, k.rsaPEM, user(nil)), nil},
		{"alg confusion: HS256 with the ECDSA public key as the secret", Config{JWTKey: k.ecPEM},
			sign(t, jwt.SigningMethodHS256, k.ecPEM, user(nil)), nil},
		{"PS256 for an RSA key", Config{JWTKey: k.rsaPEM}, sign(t, jwt.SigningMethodPS256, k.rsa, user(nil)), nil},
		{"RS256 for an ECDSA key", Config{JWTKey: k.ecPEM}, sign(t, jwt.SigningMethodRS256, k.rsa, user(nil)), nil},
		{"ES256 for a P-384 key", Config{JWTKey: k.ec384PEM}, sign(t, jwt.SigningMethodES256, k.ec, user(nil)), nil},
		{"alg none, HMAC", Config{JWTKey: k.hmac}, none, nil},
		{"alg none, RSA", Config{JWTKey: k.rsaPEM}, none, nil},
		{"tampered payload, HS256", Config{JWTKey: k.hmac}, tamper(sign(t, jwt.SigningMethodHS256, k.hmac, user(nil))), nil},
		{"tampered payload, RS256", Config{JWTKey: k.rsaPEM}, tamper(sign(t, jwt.SigningMethodRS256, k.rsa, user(nil))), nil},
		{"tampered payload, ES256", Config{JWTKey: k.ecPEM}, tamper(sign(t, jwt.SigningMethodES256, k.ec, user(nil))), nil},
		{"expired", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), nil},
		{"expired within the leeway", Config{JWTKey: k.hmac},
			sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"exp": now.Add(-5 * time.Second).Unix()})), valid},
		{"without exp", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"exp": nil})), nil},
		{"exp not a number", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"exp": "tomorrow"})), nil},
		{"not yet valid", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), nil},
		{"valid soon, within the leeway", Config{JWTKey: k.hmac},
			sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"nbf": now.Add(5 * time.Second).Unix()})), valid},
		{"issued in the future", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()})), nil},
		{"issuer", Config{JWTKey: k.hmac, Issuer: "https://idp"}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"iss": "https://idp"})), valid},
		{"another issuer", Config{JWTKey: k.hmac, Issuer: "https://idp"}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"iss": "https://evil"})), nil},
		{"no issuer", Config{JWTKey: k.hmac, Issuer: "https://idp"}, sign(t, jwt.SigningMethodHS256, k.hmac, user(nil)), nil},
		{"audience", Config{JWTKey: k.hmac, Audience: "shop"}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"aud": []string{"crm", "shop"}})), valid},
		{"another audience", Config{JWTKey: k.hmac, Audience: "shop"}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{"aud": "crm"})), nil},
		{"no user claim", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), nil},
		{"a numeric sub, DreamFactory's", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac,
			jwt.MapClaims{"sub": 1, "user_id": 1, "email": "admin@example.com", "exp": now.Add(time.Hour).Unix()}),
			map[string]any{"id": 1.0, "email": "admin@example.com"}},
		{"all user claims", Config{JWTKey: k.hmac}, sign(t, jwt.SigningMethodHS256, k.hmac, user(jwt.MapClaims{
			"first_name": "Ada", "family_name": "Lovelace", "is_sys_admin": true, "name": "", "email": 7})),
			map[string]any{"id": "u1", "first_name": "Ada", "last_name": "Lovelace", "is_sys_admin": true}},
		{"not a JWT", Config{JWTKey: k.hmac}, "opaque-token", nil},
		{"a JWT that is not one", Config{JWTKey: k.hmac}, "a.b.c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = clk.Now
			var logs logBuffer
			tc.cfg.Logger = testLogger(&logs)
			b := newBuilder(t, tc.cfg)
			s := request(b, "/x", "Authorization", "Bearer "+tc.token)
			if s["session_token"] != tc.token {
				t.Fatalf("session_token %v", s["session_token"])
			}
			got, _ := s["user"].(map[string]any)
			if !reflect.DeepEqual(got, tc.user) {
				t.Fatalf("user %#v, want %#v (log: %s)", s["user"], tc.user, logs.String())
			}
			st := b.Stats()
			switch {
			case tc.user != nil && (st.JWTVerified != 1 || st.JWTInvalid != 0):
				t.Fatalf("a valid token: stats %+v", st)
			case tc.user == nil && looksLikeJWT(tc.token) && (st.JWTVerified != 0 || st.JWTInvalid != 1 ||
				!strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), tc.token)):
				t.Fatalf("an invalid token: stats %+v, log %s", st, logs.String())
			case !looksLikeJWT(tc.token) && st.JWTVerified+st.JWTInvalid != 0:
				t.Fatalf("a token that is not a JWT was verified: %+v", st)
			}
		})
	}
}

func TestJWTRole(t *testing.T) {
	k := testKeys()
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name   string
		claim  string
		claims jwt.MapClaims
		want   map[string]any
	}{
		{"a name", "", jwt.MapClaims{"role": "editor"}, map[string]any{"name": "editor"}},
		{"a name and role_id", "", jwt.MapClaims{"role": "editor", "role_id": 7}, map[string]any{"id": 7.0, "name": "editor"}},
		{"an object", "", jwt.MapClaims{"role": map[string]any{"id": "r3", "name": "admin", "perm": "all"}}, map[string]any{"id": "r3", "name": "admin"}},
		{"another claim", "dept", jwt.MapClaims{"dept": "sales", "role": "ignored"}, map[string]any{"name": "sales"}},
		{"none", "", jwt.MapClaims{"role": ""}, nil},
		{"a list is not a role", "", jwt.MapClaims{"role": []string{"a", "b"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, Config{JWTKey: k.hmac, RoleClaim: tc.claim})
			tc.claims["sub"], tc.claims["exp"] = "u1", exp
			s := request(b, "/x", "X-DreamFactory-Session-Token", sign(t, jwt.SigningMethodHS256, k.hmac, tc.claims))
			got, _ := s["role"].(map[string]any)
			if !reflect.DeepEqual(got, tc.want) || !hasKey(s, "user") {
				t.Fatalf("role %#v, want %#v (session %#v)", s["role"], tc.want, s)
			}
		})
	}
}

func TestJWTCache(t *testing.T) {
	k := testKeys()
	clk := newClock()
	b := newBuilder(t, Config{JWTKey: k.hmac, Now: clk.Now})
	// Valid for 30 s, less than the TTL: cached until it expires, then refused.
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "u1", "exp": clk.Now().Add(30 * time.Second).Unix()})
	for range 3 {
		if !hasKey(request(b, "/x", "Authorization", "Bearer "+tok), "user") {
			t.Fatal("no user")
		}
	}
	if st := b.Stats(); st.JWTVerified != 1 || st.CacheHits != 2 {
		t.Fatalf("stats: %+v", st)
	}
	clk.Advance(30 * time.Second) // expired, but within the leeway: verified again, and cached until exp: not at all
	request(b, "/x", "Authorization", "Bearer "+tok)
	clk.Advance(11 * time.Second) // past the leeway
	if s := request(b, "/x", "Authorization", "Bearer "+tok); hasKey(s, "user") {
		t.Fatalf("an expired token is still served from the cache: %#v", s)
	}
	if st := b.Stats(); st.JWTVerified != 2 || st.JWTInvalid != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// An invalid token is cached for NegativeTTL.
	request(b, "/x", "Authorization", "Bearer "+tok)
	if st := b.Stats(); st.JWTInvalid != 1 {
		t.Fatalf("an invalid token was verified again within NegativeTTL: %+v", st)
	}
}

func TestJWTThenIntrospection(t *testing.T) {
	k := testKeys()
	// The endpoint knows a JWT the key does not verify (DreamFactory's own, say) and an opaque token.
	other := sign(t, jwt.SigningMethodHS256, k.hmac2, jwt.MapClaims{"sub": "df", "exp": time.Now().Add(time.Hour).Unix()})
	ep := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-DreamFactory-Session-Token") {
		case other:
			w.Write([]byte(`{"id":1,"email":"df@example.com"}`))
		case "opaque":
			w.Write([]byte(`{"id":2,"email":"opaque@example.com"}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	b := newBuilder(t, Config{JWTKey: k.hmac, SessionURL: ep.url()})
	mine := sign(t, jwt.SigningMethodHS256, k.hmac, jwt.MapClaims{"sub": "u1", "email": "jwt@example.com", "exp": time.Now().Add(time.Hour).Unix()})

	if e := userEmail(request(b, "/x", "Authorization", "Bearer "+mine)); e != "jwt@example.com" || ep.calls.Load() != 0 {
		t.Fatalf("a JWT the key verifies: %q, %d calls", e, ep.calls.Load())
	}
	if e := userEmail(request(b, "/x", "Authorization", "Bearer "+other)); e != "df@example.com" || ep.calls.Load() != 1 {
		t.Fatalf("a JWT the key does not verify: %q, %d calls", e, ep.calls.Load())
	}
	if e := userEmail(request(b, "/x", "Authorization", "Bearer opaque")); e != "opaque@example.com" || ep.calls.Load() != 2 {
		t.Fatalf("an opaque token: %q, %d calls", e, ep.calls.Load())
	}
	if st := b.Stats(); st.JWTVerified != 1 || st.JWTInvalid != 1 || st.IntrospectionUsers != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestJWTKeyErrors(t *testing.T) {
	k := testKeys()
	edKey, _, _ := ed25519.GenerateKey(rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"a short secret", []byte("0123456789"), "an HMAC secret of 10 bytes: at least 32"},
		{"a private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "give the public key"},
		{"a broken PEM", []byte("-----BEGIN PUBLIC KEY-----\nnot base64\n"), "does not decode"},
		{"a PEM of another type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}), `"CERTIFICATE REQUEST"`},
		{"garbage in a PUBLIC KEY", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), "does not parse"},
		{"an Ed25519 key", pkixPEM(edKey), "RSA or ECDSA is needed"},
		{"a P-224 key", pkixPEM(&p224.PublicKey), "P-224"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{JWTKey: tc.key})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "fastluasession: Config.JWTKey: ") {
				t.Fatalf("got %v, want an error naming Config.JWTKey and %q", err, tc.want)
			}
		})
	}
}
