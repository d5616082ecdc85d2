// Command loadserver answers every request with {"ok":true}, bare or wrapped by fastlua, for
// load tests such as ../shared/bench/sidebyside.sh:
//
//	go run ./bench/loadserver -listen 127.0.0.1:8080 -mode bare
//	go run ./bench/loadserver -listen 127.0.0.1:8080 -mode script -scripts DIR -prefix /api/v2
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	mode := flag.String("mode", "bare", "bare: fasthttp alone; script: wrapped by fastlua")
	scripts := flag.String("scripts", "", "directory of <pattern>.lua scripts (script mode)")
	prefix := flag.String("prefix", "/", "the middleware's prefix (script mode)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address, to profile under load")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	handler, err := build(*mode, *scripts, *prefix)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler, Name: "loadserver"}
	fmt.Printf("loadserver (%s) on %s\n", *mode, *listen)
	log.Fatal(srv.ListenAndServe(*listen))
}

func ok(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"ok":true}`)
}

func build(mode, scripts, prefix string) (fasthttp.RequestHandler, error) {
	switch mode {
	case "bare":
		return ok, nil
	case "script":
		if scripts == "" {
			return nil, errors.New("-mode script needs -scripts DIR")
		}
		list, err := fastlua.LoadScripts(os.DirFS(scripts), ".")
		if err != nil {
			return nil, err
		}
		mw, err := fastlua.New(fastlua.Config{
			Prefix:  prefix,
			Scripts: list,
			Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return nil, err
		}
		return mw.Wrap(ok), nil
	}
	return nil, fmt.Errorf("-mode must be bare or script, not %q", mode)
}
