package fastluasession_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/fastlua/fastlua"
	"github.com/fastlua/fastlua/fastluasession"
	"github.com/valyala/fasthttp"
)

// A script reads the user and role that DreamFactory's GET /api/v2/user/session (here a
// stand-in on a loopback port) gives for the request's session token.
func Example() {
	df := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-DreamFactory-Session-Token") != "t0k3n" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"id":42,"name":"Ada Lovelace","email":"ada@example.com","is_sys_admin":false,"role":"editor","role_id":7}`)
	}))
	defer df.Close()

	sessions, err := fastluasession.New(fastluasession.Config{SessionURL: df.URL + "/api/v2/user/session"})
	if err != nil {
		panic(err)
	}
	mw, err := fastlua.New(fastlua.Config{
		Prefix:  "/api/v2",
		Session: sessions.Hook,
		Scripts: []fastlua.Script{{
			Name: "db._table.{table_name}.get.pre_process",
			Source: `
local user = platform.session.user
if user == nil then
  error({ status_code = 401, message = "log in first" })
end
event.request.headers["x-user"] = user.email .. " (" .. platform.session.role.name .. ")"`,
		}},
	})
	if err != nil {
		panic(err)
	}
	defer mw.Close(context.Background())

	handler := mw.Wrap(func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "hello %s", ctx.Request.Header.Peek("X-User"))
	})
	for _, token := range []string{"t0k3n", "wrong"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/api/v2/db/_table/customer")
		ctx.Request.Header.Set("X-DreamFactory-Session-Token", token)
		handler(&ctx)
		fmt.Println(ctx.Response.StatusCode(), string(ctx.Response.Body()))
	}
	// Output:
	// 200 hello ada@example.com (editor)
	// 401 {"error":{"code":401,"message":"log in first"}}
}
