package fastlua

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// platform.api results are tables a state reuses from one top-level run to the next
// (apiResults): every call of a run gets its own, and what a script did to one (keys added or
// removed, in the result, its headers and its content; a metatable) is gone in the next run.
func TestPlatformAPIResultsReused(t *testing.T) {
	data := func(ctx *fasthttp.RequestCtx) {
		id := string(ctx.Path()[len("/api/v2/data/"):])
		ctx.Response.Header.Set("X-Item", id)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":` + id + `,"name":"item"}`)
	}
	ts := serve(t, Config{Prefix: "/api/v2", MaxStates: 1,
		Scripts: []Script{luaFile(t, "reshape.run.get.pre_process", "apiresult/reshape.lua")}}, data)
	for i := range 4 {
		r := ts.do("GET", "/api/v2/reshape/run", "")
		v := r.json(t)
		if r.status != 200 || v["clean"] != true || v["distinct"] != true || v["keys"] != "content,content_type,headers,status_code" ||
			v["a_id"] != 1.0 || v["b_id"] != 2.0 || v["a_item"] != "1" || v["b_item"] != "2" {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
}
