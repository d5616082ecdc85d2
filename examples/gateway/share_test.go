package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastlua/fastlua/internal/redistest"
	"github.com/valyala/fasthttp"
)

// load sends requests to /api/x on every address until stop is called, and returns the
// failed ones (a status other than 200, or no answer) with what they got.
func load(addrs ...string) (stop func() []string) {
	var (
		mu     sync.Mutex
		failed []string
		done   atomic.Bool
		wg     sync.WaitGroup
	)
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://" + addr + "/api/x")
				err := fasthttp.DoTimeout(req, resp, 10*time.Second)
				if err != nil || resp.StatusCode() != 200 {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %v %d %s", addr, err, resp.StatusCode(), resp.Body()))
					mu.Unlock()
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		}()
	}
	return func() []string {
		done.Store(true)
		wg.Wait()
		return failed
	}
}

// Two gateways with -share-scripts on one Redis: the first seeds it from its -scripts
// directory; a change through A serves on B while a load runs, with no failed request; a
// rollback through B reaches A; with Redis stopped both keep serving, and B restarted then
// serves its last-known-good copy; with Redis back both converge.
func TestGatewaysShareScripts(t *testing.T) {
	srv := redistest.Start(t)
	up := okUpstream(t)
	answer := func(s string) string { return fmt.Sprintf("event.response.content = %q", s) }
	dirA := scriptDir(t, map[string]string{"api.x.get.pre_process.lua": answer("v1")})
	dirB := t.TempDir()
	bin := buildGateway(t)
	args := func(dir string) []string {
		return []string{"-upstream", up, "-redis", srv.URL(), "-share-scripts", "-scripts", dir, "-admin-token", "adm"}
	}
	a := startGateway(t, bin, args(dirA)...)
	b := startGatewayProc(t, bin, args(dirB)...)
	serves := func(addr string) string {
		_, body, _ := get(t, "GET", "http://"+addr+"/api/x", "")
		return body
	}
	waitServes := func(addr, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for serves(addr) != want {
			if time.Since(start) > 15*time.Second {
				t.Fatalf("%s serves %q, want %q", addr, serves(addr), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(start)
	}
	admin := func(addr, method, path, body string) (int, string) {
		st, resp, _ := get(t, method, "http://"+addr+"/_fastlua/event_script"+path, body, "Authorization", "Bearer adm")
		return st, resp
	}
	waitStatus := func(addr, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, body := admin(addr, "GET", "/_status", "")
			if strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's status: %s; want %s", addr, body, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitServes(b.addr, "v1") // seeded by A

	stop := load(a, b.addr)
	if st, body := admin(a, "POST", "/api.x.get.pre_process", fmt.Sprintf(`{"content": %q}`, answer("v2"))); st != 201 {
		t.Fatalf("POST through A: %d %s", st, body)
	}
	if d := waitServes(b.addr, "v2"); d > time.Second {
		t.Errorf("B served the change made through A after %v; a change reaches every instance within 1 s", d)
	} else {
		t.Logf("B served the change made through A after %v", d)
	}
	if st, body := admin(b.addr, "POST", "/api.x.get.pre_process/rollback", `{"version": 1}`); st != 200 {
		t.Fatalf("rollback through B: %d %s", st, body)
	}
	t.Logf("A served the rollback made through B after %v", waitServes(a, "v1"))

	srv.Stop()
	waitStatus(a, `"reachable":false`)
	if failed := stop(); len(failed) > 0 {
		t.Fatalf("%d requests failed during the change, the rollback and Redis stopping; the first: %s", len(failed), failed[0])
	}
	if serves(a) != "v1" || serves(b.addr) != "v1" {
		t.Fatalf("with Redis stopped: A serves %q, B %q; want v1", serves(a), serves(b.addr))
	}

	b.kill()
	b = startGatewayProc(t, bin, args(dirB)...)
	if got := serves(b.addr); got != "v1" {
		t.Fatalf("B restarted with Redis stopped serves %q, want its last known good v1\n%s", got, b.logs.String())
	}
	srv.Restart()
	waitStatus(b.addr, `"reachable":true`)
	if st, body := admin(b.addr, "POST", "/api.x.get.pre_process", fmt.Sprintf(`{"content": %q}`, answer("v3"))); st != 201 {
		t.Fatalf("POST through B with Redis back: %d %s", st, body)
	}
	waitServes(a, "v3")
	waitServes(b.addr, "v3")
	if _, body := admin(a, "GET", "/_status", ""); !strings.Contains(body, `"reachable":true`) || !strings.Contains(body, `"version":4`) {
		t.Fatalf("A's status with Redis back: %s", body)
	}
}
