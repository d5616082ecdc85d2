// Command quickstart is a DreamFactory-style table API over an SQLite file, wrapped by fastlua
// with the event scripts of ./scripts: validation, enrichment through platform.api, an API-key
// check, a rate limit on platform.store and an audit trail written by a queued script.
//
//	go run ./examples/quickstart
//
// The database file is created with sample data on first start. Flags: -listen, -db,
// -scripts (a directory to use, and watch, instead of the embedded scripts), -admin-token
// (serves the admin API at /api/v2/system/event_script), -rate-limit.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fastlua/fastlua"
	"github.com/valyala/fasthttp"
)

//go:embed scripts/*.lua
var embedded embed.FS

// APIKeys are the demo's keys and their owners; scripts read them as platform.config.api_keys.
var APIKeys = map[string]string{"demo-key": "demo", "admin-key": "admin"}

// Options configure the server.
type Options struct {
	DB         string // SQLite file
	ScriptDir  string // "" for the embedded scripts
	AdminToken string
	RateLimit  int // requests per minute per API key
	Logger     *slog.Logger
}

// Server is the table API wrapped by the middleware.
type Server struct {
	HTTP *fasthttp.Server
	MW   *fastlua.Middleware
	API  *TableAPI
}

// NewServer opens (or creates) the database and builds the server.
func NewServer(opt Options) (*Server, error) {
	api, err := OpenTableAPI(opt.DB)
	if err != nil {
		return nil, err
	}
	cfg := fastlua.Config{
		Prefix: "/api/v2",
		PlatformConfig: map[string]any{
			"api_keys":   APIKeys,
			"rate_limit": opt.RateLimit,
		},
		Session: func(ctx *fasthttp.RequestCtx) any {
			key := string(ctx.Request.Header.Peek("X-Api-Key"))
			return map[string]string{"user": APIKeys[key], "api_key": key}
		},
		AdminToken: opt.AdminToken,
		Logger:     opt.Logger,
	}
	if opt.ScriptDir != "" {
		cfg.ScriptDir = opt.ScriptDir
	} else {
		sub, err := fs.Sub(embedded, "scripts")
		if err != nil {
			return nil, err
		}
		cfg.ScriptFS = sub
	}
	mw, err := fastlua.New(cfg)
	if err != nil {
		api.Close()
		return nil, err
	}
	admin := mw.AdminHandler()
	scripted := mw.Wrap(api.Handle)
	handler := func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/api/v2/system/event_script") {
			admin(ctx)
			return
		}
		scripted(ctx)
	}
	return &Server{HTTP: &fasthttp.Server{Handler: handler, Name: "fastlua-quickstart"}, MW: mw, API: api}, nil
}

// Close stops the middleware (running the queued audit records) and closes the database.
func (s *Server) Close(ctx context.Context) error {
	err := s.MW.Close(ctx)
	s.API.Close()
	return err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	db := flag.String("db", "quickstart.db", "SQLite database file (created with sample data if missing)")
	scripts := flag.String("scripts", "", "directory of scripts to use and watch instead of the embedded ones")
	adminToken := flag.String("admin-token", "", "token for the admin API at /api/v2/system/event_script (off when empty)")
	rate := flag.Int("rate-limit", 60, "requests per minute per API key")
	flag.Parse()

	srv, err := NewServer(Options{DB: *db, ScriptDir: *scripts, AdminToken: *adminToken, RateLimit: *rate})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	printTryLines(ln.Addr().String(), *db, *adminToken)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.HTTP.Shutdown()
	}()
	if err := srv.HTTP.Serve(ln); err != nil {
		log.Print(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		log.Print(err)
	}
}

func printTryLines(addr, db, adminToken string) {
	u := "http://" + addr + "/api/v2/db/_table"
	key := `-H 'X-Api-Key: demo-key'`
	fmt.Printf("fastlua quickstart: a table API on %s over %s, with the scripts of examples/quickstart/scripts.\nTry:\n\n", addr, db)
	fmt.Printf("  curl -s %s/customer                      # 401: no API key\n", u)
	fmt.Printf("  curl -s %s %s/customer\n", key, u)
	fmt.Printf("  curl -s %s %s/customer/1                 # with its orders, added by a post_process script\n", key, u)
	fmt.Printf("  curl -s %s -H 'Content-Type: application/json' %s/customer -d '{\"email\":\"x@example.com\"}'   # 400: Name field is required\n", key, u)
	fmt.Printf("  curl -s %s -H 'Content-Type: application/json' %s/customer -d '{\"name\":\"Grace\",\"email\":\"grace@example.com\"}'\n", key, u)
	fmt.Printf("  curl -s %s -X PATCH -H 'Content-Type: application/json' %s/customer/1 -d '{\"email\":\"ada@example.org\"}'\n", key, u)
	fmt.Printf("  curl -s %s %s/audit                      # written by a queued script\n", key, u)
	fmt.Printf("  curl -si %s %s/customer | grep -i ratelimit\n", key, u)
	if adminToken != "" {
		fmt.Printf("  curl -s -H 'Authorization: Bearer %s' http://%s/api/v2/system/event_script\n", adminToken, addr)
	}
	fmt.Println()
}
