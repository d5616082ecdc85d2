package fastlua

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many callers through a pool of 3 states, some of them giving up (short timeouts), then Close
// racing with the last of them: no state is ever held by two callers, no more than 3 exist,
// and once everyone is done every state is accounted for, idle or closed.
func TestStatePoolStress(t *testing.T) {
	for round := 0; round < 20; round++ {
		m, err := New(Config{MaxStates: 3})
		if err != nil {
			t.Fatal(err)
		}
		p := &m.pool
		var inUse sync.Map
		var held atomic.Int32
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					timeout := time.Second
					if i%7 == 0 {
						timeout = time.Microsecond
					}
					st, err := p.get(timeout)
					if err == ErrPoolTimeout {
						continue
					}
					if err != nil {
						return // closed
					}
					if _, dup := inUse.LoadOrStore(st, true); dup {
						t.Error("a state was given to two callers at once")
					}
					if n := held.Add(1); n > 3 {
						t.Errorf("%d states held at once, MaxStates is 3", n)
					}
					if i%3 == 0 {
						time.Sleep(time.Microsecond)
					}
					held.Add(-1)
					inUse.Delete(st)
					p.put(st)
				}
			}()
		}
		if round%2 == 1 {
			time.Sleep(time.Millisecond)
			m.Close(context.Background()) // while the callers run
		}
		wg.Wait()
		s := m.Stats().Pool
		if round%2 == 0 {
			if s.Live > 3 || s.Idle != s.Live || s.Waiting != 0 {
				t.Fatalf("after the callers: %+v", s)
			}
			m.Close(context.Background())
			s = m.Stats().Pool
		}
		if s.Live != 0 || s.Idle != 0 || s.Waiting != 0 {
			t.Fatalf("round %d, after Close: %+v", round, s)
		}
	}
}

// All states busy for longer than PoolTimeout: 503 with DreamFactory's body, and the request
// after that is served normally.
func TestPoolExhausted(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, PoolTimeout: 50 * time.Millisecond, TimeLimit: 5 * time.Second, Scripts: []Script{
		{Name: "slow.x.get.pre_process", Source: `local t = os.clock() while os.clock() - t < 1 do end`},
		{Name: "fast.x.get.pre_process", Source: `event.response.headers["x-fast"] = "1"`},
		{Name: "fast.x.get.queued", Source: `local x = 1`},
	}}, h.handle)
	// Queued runs first, so that their exchanges are in the pool (a recycled exchange once kept
	// the queued phase, and a pool timeout was then logged instead of answered: 200, no body).
	for i := 0; i < 20; i++ {
		ts.do("GET", "/fast/x", "")
	}
	waitFor(t, "the queued runs", func() bool { return ts.mw.Stats().Queue.Done == 20 })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ts.do("GET", "/slow/x", "") }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if p := ts.mw.Stats().Pool; p.Live == 1 && p.Idle == 0 {
			break // the slow script holds the only state
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow script did not start")
		}
	}
	r := ts.do("GET", "/fast/x", "")
	if r.status != 503 || !strings.Contains(r.errorMessage(t), "no Lua state became free") {
		t.Fatalf("while the only state is busy: %d %s", r.status, r.body)
	}
	wg.Wait()
	if r := ts.do("GET", "/fast/x", ""); r.status != 200 || r.headers["x-fast"] != "1" {
		t.Fatalf("after: %d %s", r.status, r.body)
	}
}

// A state freed while requests wait goes to the first waiter.
func TestPoolHandsOverToWaiters(t *testing.T) {
	h := &echo{}
	ts := serve(t, Config{MaxStates: 1, PoolTimeout: 5 * time.Second, Scripts: []Script{
		{Name: "w.x.get.pre_process", Source: `local t = os.clock() while os.clock() - t < 0.01 do end`},
	}}, h.handle)
	var wg sync.WaitGroup
	fails := make(chan int, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := ts.do("GET", "/w/x", ""); r.status != 200 {
				fails <- r.status
			}
		}()
	}
	wg.Wait()
	close(fails)
	for s := range fails {
		t.Errorf("a waiting request got %d", s)
	}
}

// Each shard gets back the state it released last (its hot slot), so the requests of two
// cores do not trade states and cache lines; every state is counted idle while parked.
func TestPoolShardsKeepTheirStates(t *testing.T) {
	m, err := New(Config{MaxStates: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	p := &m.pool
	if len(p.hot) < 2 {
		t.Skip("one shard only")
	}
	a, err := p.getOn(0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.getOn(1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.put(a)
	p.put(b)
	if s := m.Stats().Pool; s.Idle != 2 || s.Live != 2 {
		t.Fatalf("after both went back: %+v", s)
	}
	for i := 0; i < 3; i++ {
		gotB, err := p.getOn(1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		gotA, err := p.getOn(0, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if gotA != a || gotB != b {
			t.Fatalf("round %d: shard 0 got %p (released %p), shard 1 got %p (released %p)", i, gotA, a, gotB, b)
		}
		p.put(gotA)
		p.put(gotB)
	}
}
