package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The gateway builds platform.session with -session-url (a loopback stand-in for DreamFactory's
// GET /api/v2/user/session) and -jwt-key; a script answers with the session user's email.
func TestGatewaySession(t *testing.T) {
	var calls atomic.Int64
	df := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Token") == "boom" {
			w.WriteHeader(http.StatusBadGateway) // the endpoint fails
			return
		}
		if r.URL.Path != "/api/v2/user/session" || r.Header.Get("X-Api-Key") != "k1" || r.Header.Get("X-Token") != "df-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"session_token":"df-token","id":42,"name":"Ada Lovelace","email":"ada@example.com","is_sys_admin":false,"role":"editor","role_id":7}`))
	}))
	defer df.Close()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"upstream":true}`)) }))
	defer upstream.Close()

	dir := t.TempDir()
	script := `local user = platform.session.user
if user == nil then error({ status_code = 401, message = "no user for key " .. tostring(platform.session.api_key) }) end
return { email = user.email, role = platform.session.role and platform.session.role.name or json.null }`
	if err := os.WriteFile(filepath.Join(dir, "shop.me.get.pre_process.lua"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := "a secret of thirty-two bytes, at least"
	keyFile := filepath.Join(t.TempDir(), "jwt.key")
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildGateway(t)
	g := startGatewayProc(t, bin, "-upstream", upstream.URL, "-scripts", dir, "-prefix", "/api",
		"-session-url", df.URL+"/api/v2/user/session", "-session-ttl", "1m",
		"-session-timeout", "20s", "-time-limit", "25s", // generous, for a loaded machine
		"-jwt-key", keyFile, "-jwt-role-claim", "grp",
		"-api-key-header", "X-Api-Key", "-session-token-header", "X-Token")
	me := "http://" + g.addr + "/api/shop/me"
	answer := func(status int, body string) map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%d %s: %v", status, body, err)
		}
		return v
	}

	for range 2 {
		status, body, _ := get(t, "GET", me, "", "X-Api-Key", "k1", "X-Token", "df-token")
		if v := answer(status, body); status != 200 || v["email"] != "ada@example.com" || v["role"] != "editor" {
			t.Fatalf("with a DreamFactory session: %d %s", status, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d introspection calls for two requests within -session-ttl, want 1", n)
	}
	// The API key from the query parameter, the token as a bearer token.
	if status, body, _ := get(t, "GET", me+"?api_key=k1", "", "Authorization", "Bearer df-token"); status != 200 ||
		answer(status, body)["email"] != "ada@example.com" {
		t.Fatalf("with api_key and a bearer token: %d %s", status, body)
	}
	// A token the endpoint refuses: no user, the request goes on to the script.
	if status, body, _ := get(t, "GET", me, "", "X-Api-Key", "k1", "X-Token", "nope"); status != 401 ||
		!strings.Contains(body, "no user for key k1") {
		t.Fatalf("with a refused token: %d %s", status, body)
	}

	// A JWT signed with -jwt-key's secret (its trailing newline is not part of it).
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u-7", "email": "bo@example.com", "grp": "viewer", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	status, body, _ := get(t, "GET", me, "", "Authorization", "Bearer "+tok)
	if v := answer(status, body); status != 200 || v["email"] != "bo@example.com" || v["role"] != "viewer" {
		t.Fatalf("with a JWT: %d %s", status, body)
	}
	if calls.Load() != before {
		t.Fatal("a JWT the key verifies was sent to -session-url")
	}

	// An expired JWT, and one signed with another key, give no user (the endpoint, asked next,
	// refuses them); an endpoint that fails gives no user. The request goes on each time.
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u-7", "exp": time.Now().Add(-time.Hour).Unix()}).SignedString([]byte(secret))
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u-7", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another secret of thirty-two bytes!"))
	for _, tok := range []string{expired, forged, "boom"} {
		if status, body, _ := get(t, "GET", me, "", "X-Api-Key", "k1", "X-Token", tok); status != 401 ||
			!strings.Contains(body, "no user for key k1") {
			t.Fatalf("token %.20s: %d %s", tok, status, body)
		}
	}
	// Each outcome is counted on /metrics and logged (without the token).
	_, metrics, _ := get(t, "GET", "http://"+g.addr+"/metrics", "")
	for _, want := range []string{
		`fastlua_session_introspections_total{result="user"} 1`,
		`fastlua_session_introspections_total{result="rejected"} 3`, // nope, expired, forged
		`fastlua_session_introspections_total{result="failed"} 1`,
		`fastlua_session_jwt_total{result="verified"} 1`,
		`fastlua_session_jwt_total{result="invalid"} 2`,
		`fastlua_session_lookups_total{result="cache_hit"} 2`, // the second request, the bearer one
		`fastlua_session_sessions_total 8`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "fastlua_session_"))
		}
	}
	logs := g.logs.String()
	for _, want := range []string{"the session endpoint failed", "refused the credential", "JWT does not verify"} {
		if !strings.Contains(logs, want) {
			t.Errorf("not logged: %q\n%s", want, logs)
		}
	}
	if strings.Contains(logs, forged) || strings.Contains(logs, "df-token") {
		t.Errorf("a token was logged:\n%s", logs)
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestGatewaySessionFlagErrors(t *testing.T) {
	bin := buildGateway(t)
	short := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-jwt-key", filepath.Join(t.TempDir(), "missing")}, "-jwt-key: open"},
		{[]string{"-jwt-key", short}, "an HMAC secret of 9 bytes"},
		{[]string{"-session-url", "localhost:8000/api/v2/user/session"}, "is not an http:// or https:// URL"},
	} {
		cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0", "-upstream", "http://127.0.0.1:1"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v, output %q; want exit 1 and %q", tc.args, err, out, tc.want)
		}
	}
}
