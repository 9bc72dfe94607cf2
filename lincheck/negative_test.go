package lincheck

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

// The negative controls: caches that are wrong on purpose, each wrapping a
// velo.Cache. The same recorder and model must reject their histories, or
// the check has no teeth.

// staleReads returns, on one read hit in four, the value written before
// the latest one it saw written through it.
type staleReads struct {
	*velo.Cache
	mu    sync.Mutex
	prev  map[string][2][]byte // the last two values set per key, newest last
	reads atomic.Int64
}

func (s *staleReads) Set(key string, value []byte, ttl time.Duration) error {
	err := s.Cache.Set(key, value, ttl)
	if err == nil {
		s.mu.Lock()
		p := s.prev[key]
		s.prev[key] = [2][]byte{p[1], bytes.Clone(value)}
		s.mu.Unlock()
	}
	return err
}

// stale returns the older value for key if this read is to be stale.
func (s *staleReads) stale(key string) ([]byte, bool) {
	if s.reads.Add(1)%4 != 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prev[key]
	return p[0], p[0] != nil
}

func (s *staleReads) Get(key string) ([]byte, bool) {
	v, ok := s.Cache.Get(key)
	if old, stale := s.stale(key); ok && stale {
		return old, true
	}
	return v, ok
}

func (s *staleReads) AppendValue(dst []byte, key string) ([]byte, bool) {
	v, ok := s.Get(key)
	return append(dst, v...), ok
}

func (s *staleReads) View(key string, fn func([]byte)) bool {
	v, ok := s.Get(key)
	if ok {
		fn(v)
	}
	return ok
}

// lostDeletes reports one Delete in three as done without doing it.
type lostDeletes struct {
	*velo.Cache
	n atomic.Int64
}

func (l *lostDeletes) Delete(key string) bool {
	if l.n.Add(1)%3 == 0 {
		return l.Has(key)
	}
	return l.Cache.Delete(key)
}

// ignoresTTL stores every entry without its TTL.
type ignoresTTL struct{ *velo.Cache }

func (i ignoresTTL) Set(key string, value []byte, _ time.Duration) error {
	return i.Cache.Set(key, value, 0)
}

// evicting evicts (deletes) the key before one Get in six: a cache allowed
// to evict may do that, a cache that may not must not.
type evicting struct {
	*velo.Cache
	n atomic.Int64
}

func (e *evicting) Get(key string) ([]byte, bool) {
	if e.n.Add(1)%6 == 0 {
		e.Cache.Delete(key)
	}
	return e.Cache.Get(key)
}

// alwaysLoads calls load on every GetOrLoad, hit or miss, and stores its
// value. It runs one load at a time, as velo does per key.
type alwaysLoads struct {
	*velo.Cache
	mu *sync.Mutex
}

func (a alwaysLoads) GetOrLoad(ctx context.Context, key string, load func(context.Context) ([]byte, time.Duration, error)) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ttl, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.Cache.Set(key, v, ttl); err != nil {
		return nil, err
	}
	return v, nil
}

// TestNegativeControls runs the random histories of TestLinearizable on
// the wrong caches, without eviction, and checks them with the strict
// model and with the model that allows eviction: each must be rejected,
// except that a cache that only evicts
// must pass the model that allows it.
func TestNegativeControls(t *testing.T) {
	cases := []struct {
		name string
		wrap func(*velo.Cache) target
		// bad[vanish]: whether the model with vanish set must reject it.
		bad [2]bool
	}{
		{"stale-reads", func(c *velo.Cache) target { return &staleReads{Cache: c, prev: map[string][2][]byte{}} }, [2]bool{true, true}},
		{"lost-deletes", func(c *velo.Cache) target { return &lostDeletes{Cache: c} }, [2]bool{true, true}},
		{"ignores-ttl", func(c *velo.Cache) target { return ignoresTTL{c} }, [2]bool{true, true}},
		// Even where eviction is allowed: a load that fails while the key
		// is present makes GetOrLoad return an error, which only a miss
		// explains, and a later read finds the value that "missed".
		{"always-loads", func(c *velo.Cache) target { return alwaysLoads{c, new(sync.Mutex)} }, [2]bool{true, true}},
		{"evicting", func(c *velo.Cache) target { return &evicting{Cache: c} }, [2]bool{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewManual(clockStart)
			c, err := velo.New(velo.Options{Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := newRecorder(clk, hotKeys)
			hist, err := runWorkers(tc.wrap(c), r, workload{workers: 4, opsEach: 300, seed: seed(0), mix: defaultMix})
			if err != nil {
				t.Fatal(err)
			}
			for _, vanish := range []bool{false, true} {
				want := porcupine.Ok
				if tc.bad[b2i(vanish)] {
					want = porcupine.Illegal
				}
				got := verdict(rules{vanish: vanish}, hist)
				switch {
				case got == porcupine.Unknown:
					t.Logf("vanish=%v: UNKNOWN (porcupine timed out): this control was NOT verified", vanish)
				case got != want:
					dir := report(t, modelWith(rules{vanish: vanish}), hist, tc.name, false)
					t.Errorf("vanish=%v: the model says %s, want %s; history in %s", vanish, got, want, dir)
				default:
					t.Logf("vanish=%v: %s, as it should be", vanish, got)
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// op builds an operation of a hand-written history.
func op(client int, call, ret int64, in input, out output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
}

// TestModel checks the model itself on small histories written by hand.
func TestModel(t *testing.T) {
	const k = "k"
	t0 := clockStart
	set := func(val string, ttl time.Duration) input {
		return input{kind: opSet, key: k, val: val, ttl: int64(ttl), t0: t0}
	}
	get := input{kind: opGet, key: k, via: "Get"}
	hit := func(val string) output { return output{ok: true, val: val} }
	miss := output{}
	adv := func(d time.Duration) input { return input{kind: opAdvance, ttl: int64(d)} }
	at := func(d time.Duration) output { return output{now: t0 + int64(d)} }
	gol := input{kind: opGetOrLoad, key: k}
	loaded := func(n int64) output { return output{ok: true, val: loadName(k, n), load: n} }
	store := func(n int64, ttl time.Duration) input {
		return input{kind: opStore, key: k, val: loadName(k, n), ttl: int64(ttl), t0: t0, n: n}
	}
	del := input{kind: opDelete, key: k}

	cases := []struct {
		name          string
		hist          []porcupine.Operation
		strict, evict bool // linearizable under each model
	}{
		{"read your write", []porcupine.Operation{
			op(0, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 4, get, hit("a")),
		}, true, true},
		{"stale after newer seen", []porcupine.Operation{
			op(0, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 4, set("b", 0), output{ok: true}),
			op(1, 5, 6, get, hit("b")),
			op(1, 7, 8, get, hit("a")),
		}, false, false},
		{"concurrent writes, either order", []porcupine.Operation{
			op(0, 1, 10, set("a", 0), output{ok: true}),
			op(1, 2, 9, set("b", 0), output{ok: true}),
			op(2, 11, 12, get, hit("a")),
		}, true, true},
		{"value never written", []porcupine.Operation{
			op(0, 1, 2, get, hit("x")),
		}, false, false},
		{"miss of a present entry", []porcupine.Operation{
			op(0, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 4, get, miss),
		}, false, true},
		{"no comeback after a miss", []porcupine.Operation{
			op(0, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 4, get, miss),
			op(0, 5, 6, get, hit("a")),
		}, false, false},
		{"read after delete", []porcupine.Operation{
			op(0, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 4, del, output{ok: true}),
			op(0, 5, 6, get, hit("a")),
		}, false, false},
		{"alive until its TTL", []porcupine.Operation{
			op(0, 1, 2, set("a", 2*tick), output{ok: true}),
			op(0, 3, 4, adv(tick), at(tick)),
			op(0, 5, 6, get, hit("a")),
			op(0, 7, 8, adv(tick), at(2*tick)),
			op(0, 9, 10, get, miss),
		}, true, true},
		{"read at its expiry", []porcupine.Operation{
			op(0, 1, 2, set("a", 2*tick), output{ok: true}),
			op(0, 3, 4, adv(2*tick), at(2*tick)),
			op(0, 5, 6, get, hit("a")),
		}, false, false},
		{"miss before expiry", []porcupine.Operation{
			op(0, 1, 2, set("a", 2*tick), output{ok: true}),
			op(0, 3, 4, adv(tick), at(tick)),
			op(0, 5, 6, get, miss),
		}, false, true},
		{"clock moves during a Set", []porcupine.Operation{
			// The Set may have read the clock before or after the advance:
			// it may expire at 2 or 3, so a miss at 2 is fine...
			op(0, 1, 10, set("a", 2*tick), output{ok: true}),
			op(1, 2, 3, adv(tick), at(tick)),
			op(1, 11, 12, adv(tick), at(2*tick)),
			op(1, 13, 14, get, miss),
		}, true, true},
		{"clock moves during a Set, then a hit at its latest expiry", []porcupine.Operation{
			op(0, 1, 10, set("a", 2*tick), output{ok: true}),
			op(1, 2, 3, adv(tick), at(tick)),
			op(1, 11, 12, adv(2*tick), at(3*tick)),
			op(1, 13, 14, get, hit("a")),
		}, false, false},
		{"joined load", []porcupine.Operation{
			op(0, 1, 20, gol, loaded(1)),
			op(1, 2, 19, gol, loaded(1)),
			op(2, 10, 18, store(1, 0), output{ok: true}),
			op(1, 21, 22, get, hit(loadName(k, 1))),
		}, true, true},
		{"load's store overwrites a Set made during the load", []porcupine.Operation{
			op(0, 1, 20, gol, loaded(1)),
			op(1, 2, 3, set("a", 0), output{ok: true}),
			op(1, 4, 5, get, hit("a")),
			op(2, 10, 18, store(1, 0), output{ok: true}),
			op(1, 21, 22, get, hit(loadName(k, 1))),
		}, false, true}, // with eviction, "a" may be gone before the miss
		{"a Set made during the load stays", []porcupine.Operation{
			op(0, 1, 20, gol, loaded(1)),
			op(1, 2, 3, set("a", 0), output{ok: true}),
			op(2, 10, 18, store(1, 0), output{ok: true}),
			op(1, 21, 22, get, hit("a")),
		}, true, true},
		{"GetOrLoad loads although the key is present", []porcupine.Operation{
			op(1, 1, 2, set("a", 0), output{ok: true}),
			op(0, 3, 20, gol, loaded(1)),
			op(2, 10, 18, store(1, 0), output{ok: true}),
		}, false, true},
		{"a load stored with no caller missing", []porcupine.Operation{
			op(1, 1, 2, set("a", 0), output{ok: true}),
			op(2, 3, 4, store(1, 0), output{ok: true}),
			op(1, 5, 6, get, hit(loadName(k, 1))),
		}, false, false},
		{"loads stored out of order", []porcupine.Operation{
			op(0, 1, 30, gol, loaded(2)),
			op(1, 2, 29, gol, loaded(1)),
			op(2, 10, 11, store(2, 0), output{ok: true}),
			op(2, 12, 13, store(1, 0), output{ok: true}),
		}, false, false},
		{"GetOrLoad returns an old load", []porcupine.Operation{
			op(0, 1, 10, gol, loaded(1)),
			op(2, 5, 9, store(1, 0), output{ok: true}),
			op(1, 11, 12, del, output{ok: true}),
			op(0, 13, 20, gol, loaded(1)),
		}, false, false},
	}
	for _, tc := range cases {
		for _, vanish := range []bool{false, true} {
			want := tc.strict
			if vanish {
				want = tc.evict
			}
			got := porcupine.CheckOperations(modelWith(rules{vanish: vanish}), tc.hist)
			if got != want {
				t.Errorf("%s (vanish=%v): linearizable = %v, want %v", tc.name, vanish, got, want)
			}
		}
	}
}
