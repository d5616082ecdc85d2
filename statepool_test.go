package fastlua

import (
	"context"
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
