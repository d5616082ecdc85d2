package fastlua

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The admin API mounted at /admin/scripts, with a verifier besides the token; and with a
// verifier only.
func TestAdminMountAndVerifier(t *testing.T) {
	for _, token := range []string{"s3cret", ""} {
		t.Run("token="+token, func(t *testing.T) {
			h := &echo{}
			var admin fasthttp.RequestHandler
			ts := serve(t, Config{ScriptDir: t.TempDir(), AdminToken: token}, func(ctx *fasthttp.RequestCtx) {
				if strings.HasPrefix(string(ctx.Path()), "/admin/") {
					admin(ctx)
					return
				}
				h.handle(ctx)
			})
			admin = ts.mw.AdminHandlerWith(AdminOptions{Mount: "/admin/scripts",
				Verify: func(ctx *fasthttp.RequestCtx) bool { return string(ctx.Request.Header.Peek("X-Role")) == "admin" }})
			role := []string{"X-Role", "admin"}

			if r := ts.do("GET", "/admin/scripts", "", "X-Role", "guest"); r.status != 401 {
				t.Fatalf("a refused role: %d %s", r.status, r.body)
			}
			if r := ts.do("GET", "/admin/scripts", "", role...); r.status != 200 || r.body != `{"resource":[]}` {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			rec := `{"name":"shop.{item}.get.pre_process","type":"lua","content":"event.response.headers[\"x-admin\"] = \"v1\""}`
			if r := ts.do("POST", "/admin/scripts", rec, role...); r.status != 200 && r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			if r := ts.do("GET", "/shop/hat", ""); r.headers["x-admin"] != "v1" {
				t.Fatalf("the script made through the mounted API does not run: %v", r.headers)
			}
			if r := ts.do("GET", "/admin/scripts/shop.{item}.get.pre_process", "", role...); r.status != 200 || !strings.Contains(r.body, `"x-admin`) {
				t.Fatalf("get one: %d %s", r.status, r.body)
			}
			if r := ts.do("GET", "/admin/scripts/_status", "", role...); r.status != 200 {
				t.Fatalf("status: %d %s", r.status, r.body)
			}
			// Outside the mount: not found, even with an event_script segment.
			if r := ts.do("GET", "/admin/scriptsx", "", role...); r.status != 404 {
				t.Fatalf("a path beside the mount: %d %s", r.status, r.body)
			}
			if r := ts.do("GET", "/admin/other/event_script", "", role...); r.status != 404 {
				t.Fatalf("an event_script path outside the mount: %d %s", r.status, r.body)
			}
			// The token still lets in a request the verifier refuses, when there is one.
			r := ts.do("DELETE", "/admin/scripts/shop.{item}.get.pre_process", "", "Authorization", "Bearer "+token)
			if token == "" && r.status != 401 || token != "" && r.status != 200 && r.status != 204 {
				t.Fatalf("the token (%q): %d %s", token, r.status, r.body)
			}
		})
	}
}
