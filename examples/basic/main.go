// Command basic wraps a small in-memory table API with the event scripts in ./scripts:
// a pre_process validation and a post_process enrichment.
//
//	go run ./examples/basic
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path"
	"strings"
	"sync"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv, mw, err := newServer()
	if err != nil {
		log.Fatal(err)
	}
	defer mw.Close(context.Background())
	base := "http://" + ln.Addr().String() + "/api/v2/db/_table/customer"
	fmt.Printf("listening on %s; try:\n", ln.Addr())
	fmt.Printf("  curl -s %s\n", base)
	fmt.Printf("  curl -s -X POST %s -H 'Content-Type: application/json' -d '{\"email\":\"x@example.com\"}'\n", base)
	fmt.Printf("  curl -s -X POST %s -H 'Content-Type: application/json' -d '{\"name\":\"Grace\"}'\n", base)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
}

// newServer builds the server: the table API wrapped by the scripts.
func newServer() (*fasthttp.Server, *fastlua.Middleware, error) {
	scripts, err := loadScripts(scriptFiles, "scripts")
	if err != nil {
		return nil, nil, err
	}
	mw, err := fastlua.New(fastlua.Config{Prefix: "/api/v2", Scripts: scripts})
	if err != nil {
		return nil, nil, err
	}
	api := &tableAPI{tables: map[string][]map[string]any{
		"customer": {{"id": 1, "name": "Ada"}, {"id": 2, "name": "Alan"}},
	}}
	return &fasthttp.Server{Handler: mw.Wrap(api.handle)}, mw, nil
}

// loadScripts reads every <pattern>.lua file of dir.
func loadScripts(fsys fs.FS, dir string) ([]fastlua.Script, error) {
	files, err := fs.Glob(fsys, dir+"/*.lua")
	if err != nil {
		return nil, err
	}
	var out []fastlua.Script
	for _, f := range files {
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, fastlua.Script{Name: strings.TrimSuffix(path.Base(f), ".lua"), Source: string(src)})
	}
	return out, nil
}

// tableAPI is a toy DreamFactory-style table API: GET lists, POST adds, with the
// {"resource": [...]} envelope for lists.
type tableAPI struct {
	mu     sync.Mutex
	tables map[string][]map[string]any
}

func (a *tableAPI) handle(ctx *fasthttp.RequestCtx) {
	name, ok := strings.CutPrefix(string(ctx.Path()), "/api/v2/db/_table/")
	if !ok || name == "" || strings.Contains(name, "/") {
		ctx.Error(`{"error":{"code":404,"message":"Not Found"}}`, 404)
		return
	}
	ctx.SetContentType("application/json")
	a.mu.Lock()
	defer a.mu.Unlock()
	switch string(ctx.Method()) {
	case "GET":
		b, _ := json.Marshal(map[string]any{"resource": a.tables[name]})
		ctx.SetBody(b)
	case "POST":
		var rec map[string]any
		if err := json.Unmarshal(ctx.PostBody(), &rec); err != nil {
			ctx.SetStatusCode(400)
			ctx.SetBodyString(`{"error":{"code":400,"message":"the body is not a JSON object"}}`)
			return
		}
		rec["id"] = len(a.tables[name]) + 1
		a.tables[name] = append(a.tables[name], rec)
		b, _ := json.Marshal(rec)
		ctx.SetStatusCode(201)
		ctx.SetBody(b)
	default:
		ctx.SetStatusCode(405)
		ctx.SetBodyString(`{"error":{"code":405,"message":"Method Not Allowed"}}`)
	}
}
