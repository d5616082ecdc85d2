package fastluasession_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluasession"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
)

// A real Middleware, served on 127.0.0.1, whose script (testdata/me.get.pre_process.lua) reads
// platform.session.user.email and platform.session.role.name, with a session from a loopback
// introspection endpoint and from HS256 tokens.
func TestMiddleware(t *testing.T) {
	var calls atomic.Int64
	df := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-DreamFactory-Session-Token") != "df-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"session_token":"df-token","session_id":"df-token","id":42,"name":"Ada Lovelace","first_name":"Ada",
			"last_name":"Lovelace","email":"ada@example.com","is_sys_admin":false,"role":"editor","role_id":7}`))
	}))
	defer df.Close()
	secret := []byte("a secret of thirty-two bytes, at least")
	sessions, err := fastluasession.New(fastluasession.Config{SessionURL: df.URL + "/api/v2/user/session", JWTKey: secret,
		Timeout: 20 * time.Second}) // generous, for a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	mw, err := fastlua.New(fastlua.Config{Prefix: "/api/v2", ScriptFS: os.DirFS("testdata"), Session: sessions.Hook,
		TimeLimit: 25 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: mw.Wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(404) })}
	go srv.Serve(ln)
	defer srv.Shutdown()

	get := func(headers ...string) (int, map[string]any) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + ln.Addr().String() + "/api/v2/me")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(resp.Body(), &v); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode(), resp.Body(), err)
		}
		return resp.StatusCode(), v
	}

	status, v := get("X-DreamFactory-Api-Key", "k1", "X-DreamFactory-Session-Token", "df-token")
	if status != 200 || v["email"] != "ada@example.com" || v["role"] != "editor" || v["id"] != 42.0 || v["admin"] != false || v["api_key"] != "k1" {
		t.Fatalf("a DreamFactory session: %d %v", status, v)
	}
	get("X-DreamFactory-Api-Key", "k1", "X-DreamFactory-Session-Token", "df-token")
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d introspection calls for two requests with one credential", n)
	}

	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u-7", "email": "bo@example.com", "role": "viewer", "is_sys_admin": true,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	status, v = get("Authorization", "Bearer "+tok)
	if status != 200 || v["email"] != "bo@example.com" || v["role"] != "viewer" || v["id"] != "u-7" || v["admin"] != true || v["api_key"] != nil {
		t.Fatalf("a JWT session: %d %v", status, v)
	}

	for _, h := range [][]string{
		{"X-DreamFactory-Api-Key", "k1"},
		{"X-DreamFactory-Api-Key", "k1", "X-DreamFactory-Session-Token", "expired-or-unknown"},
	} {
		if status, v := get(h...); status != 401 || v["error"] != "no user" || v["api_key"] != "k1" {
			t.Fatalf("without a verified user (%v): %d %v", h, status, v)
		}
	}
	if st := sessions.Stats(); st.Sessions != 5 || st.Introspections != 2 || st.IntrospectionRejected != 1 || st.JWTVerified != 1 {
		t.Fatalf("stats: %+v", st)
	}
}
