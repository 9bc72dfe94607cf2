package velorueidis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/velocache/velo"
)

// TestOtherClientWriteSeenWithinBound: another instance's write reaches
// this instance's local copy through the server's invalidation, within
// bound; the lags are logged.
func TestOtherClientWriteSeenWithinBound(t *testing.T) {
	srv := startRedis(t)
	writer := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{})
	mustDo(t, writer, "SET", "k", "0")
	var lags []time.Duration
	for i := 1; i <= 200; i++ {
		// Make sure the old value is cached, so the new one needs the
		// invalidation.
		if got := read(t, a, "k"); got != strconv.Itoa(i-1) {
			t.Fatalf("iteration %d: read %q before the write", i, got)
		}
		mustDo(t, writer, "SET", "k", strconv.Itoa(i))
		done := time.Now()
		for {
			if read(t, a, "k") == strconv.Itoa(i) {
				break
			}
			if time.Since(done) > bound {
				t.Fatalf("write %d not seen within %v", i, bound)
			}
			runtime.Gosched()
		}
		lags = append(lags, time.Since(done))
	}
	slices.Sort(lags)
	s := a.Stats()
	t.Logf("lag from another client's SET returning to the new value read here: p50 %v, p99 %v, max %v (%d writes); hits %d, misses %d, invalidations %d",
		lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1], len(lags), s.Hits, s.Misses, s.Invalidations)
	if s.Hits == 0 || s.Invalidations == 0 {
		t.Fatalf("the local cache was not used: %+v", s)
	}
}

// TestReadOwnWrite: after Set returns, the same instance reads the new
// value at once, also while other goroutines keep requests for the key
// in flight.
func TestReadOwnWrite(t *testing.T) {
	srv := startRedis(t)
	a := newTestClient(t, srv.addr, ClientOptions{})
	if err := a.Set(bg(), "k", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a.GetOrLoad(bg(), "k", 0, noLoad)
				time.Sleep(20 * time.Microsecond) // leave the CPUs to the writer too
			}
		}()
	}
	for i := 1; i <= 300; i++ {
		if err := a.Set(bg(), "k", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
		if got := read(t, a, "k"); got != strconv.Itoa(i) {
			close(stop)
			wg.Wait()
			t.Fatalf("read %q right after Set(%d) returned", got, i)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("stats %+v", a.Stats().Stats)
}

// TestDelayedReplyNotServedAfterWrite: a GET executes, its reply is held
// back (by a proxy) while another client writes the key, then both the
// reply and the invalidation arrive. Once the invalidation is handled the
// old reply is never served, and reads see the new value.
func TestDelayedReplyNotServedAfterWrite(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	px := startProxy(t, srv.addr)
	// One connection (PipelineMultiplex -1), opened before the hold.
	a := newTestClient(t, px.addr(), ClientOptions{Redis: rueidis.ClientOption{PipelineMultiplex: -1}})
	mustDo(t, admin, "SET", "k", "old")
	gets := serverGets(t, admin)
	px.hold()
	first := make(chan string, 1)
	go func() {
		v, err := a.GetOrLoad(bg(), "k", 0, noLoad)
		if err != nil {
			first <- "error: " + err.Error()
			return
		}
		first <- string(v)
	}()
	eventually(t, "the held GET to execute on the server", func() bool { return serverGets(t, admin) > gets })
	mustDo(t, admin, "SET", "k", "new")
	inv := a.Stats().Invalidations
	px.release()
	if v := <-first; v != "old" {
		t.Fatalf("the read that started before the write got %q", v)
	}
	eventually(t, "the invalidation to arrive", func() bool { return a.Stats().Invalidations > inv })
	for range 100 {
		if v := read(t, a, "k"); v != "new" {
			t.Fatalf("after the invalidation, read %q", v)
		}
	}
}

// TestVersionedStress: for 3.5 s, writers on one instance set increasing versions of
// a few keys; readers on three instances (the writers' own included)
// check that a read starting after a Set returned, plus bound (none for
// the writer's own instance), sees that version or newer. Run it under
// -race.
func TestVersionedStress(t *testing.T) {
	srv := startRedis(t)
	w := newTestClient(t, srv.addr, ClientOptions{})
	readers := []*Client{w, newTestClient(t, srv.addr, ClientOptions{}), newTestClient(t, srv.addr, ClientOptions{})}
	const keys = 4
	type done struct {
		version int
		at      time.Time
	}
	var mu sync.Mutex
	history := make([][]done, keys) // per key, the Sets that returned, in order
	for k := range keys {
		if err := w.Set(bg(), fmt.Sprint("v", k), []byte("0"), 0); err != nil {
			t.Fatal(err)
		}
		history[k] = []done{{0, time.Now()}}
	}
	// required returns the newest version of key k whose Set returned
	// before t.
	required := func(k int, t time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		h := history[k]
		i, _ := slices.BinarySearchFunc(h, t, func(d done, t time.Time) int { return d.at.Compare(t) })
		if i == 0 {
			return -1
		}
		return h[i-1].version
	}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	var writesDone sync.WaitGroup
	for k := range keys {
		writesDone.Add(1)
		go func() {
			defer writesDone.Done()
			// Write for longer than bound, so that the other instances'
			// reads are checked too.
			end := time.Now().Add(bound + 1500*time.Millisecond)
			for v := 1; time.Now().Before(end); v++ {
				if err := w.Set(bg(), fmt.Sprint("v", k), []byte(strconv.Itoa(v)), 0); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				history[k] = append(history[k], done{v, time.Now()})
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			}
		}()
	}
	var reads, checked, checkedOthers atomic.Int64
	for ri, r := range readers {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stopped.Load() {
					k := rand.IntN(keys)
					start := time.Now()
					lag := bound
					if ri == 0 {
						lag = 0 // the writer's own instance reads its writes
					}
					want := required(k, start.Add(-lag))
					v, err := r.GetOrLoad(bg(), fmt.Sprint("v", k), 0, noLoad)
					if err != nil {
						t.Error(err)
						return
					}
					got, _ := strconv.Atoi(string(v))
					reads.Add(1)
					if want >= 0 {
						checked.Add(1)
						if ri > 0 {
							checkedOthers.Add(1)
						}
					}
					if got < want {
						t.Errorf("reader %d, key %d: read version %d, but version %d returned before the read started (less %v)", ri, k, got, want, lag)
						return
					}
				}
			}()
		}
	}
	writesDone.Wait()
	stopped.Store(true)
	wg.Wait()
	var hits uint64
	for _, r := range readers {
		hits += r.Stats().Hits
	}
	t.Logf("%d reads (%d with a required version, %d of them on the other instances), %d local hits", reads.Load(), checked.Load(), checkedOthers.Load(), hits)
	if checkedOthers.Load() == 0 {
		t.Fatal("no read on the other instances was checked")
	}
}

// TestFlushAllClearsLocalCopies: a FLUSHALL's null invalidation drops
// every local copy.
func TestFlushAllClearsLocalCopies(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{})
	for i := range 50 {
		mustDo(t, admin, "SET", fmt.Sprint("k", i), "old")
		read(t, a, fmt.Sprint("k", i))
	}
	if s := a.Stats(); s.Keys != 50 {
		t.Fatalf("%d keys cached, want 50", s.Keys)
	}
	mustDo(t, admin, "FLUSHALL")
	// Each connection (rueidis may use two) gets its own flush.
	eventually(t, "the flush to reach every connection", func() bool {
		s := a.Stats()
		return s.FlushServer > 0 && s.Keys == 0 && s.Velo.Entries == 0
	})
	for i := range 50 {
		v, err := a.GetOrLoad(bg(), fmt.Sprint("k", i), time.Minute, constLoad("loaded"))
		if err != nil || string(v) != "loaded" {
			t.Fatalf("after FLUSHALL: %q %v", v, err)
		}
	}
}

// TestClientKillFlushesAndRetracks: CLIENT KILL of the instance's
// connections drops its cache; a write made while it reconnects is read
// (never the old value once the new one was seen), and tracking works on
// the new connection.
func TestClientKillFlushesAndRetracks(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{Redis: rueidis.ClientOption{ClientName: "velo-a"}})
	mustDo(t, admin, "SET", "k", "v1")
	if v := read(t, a, "k"); v != "v1" {
		t.Fatal(v)
	}
	ids := clientIDs(t, admin, "velo-a")
	if len(ids) == 0 {
		t.Fatal("no connection named velo-a")
	}
	before := a.Stats()
	for _, id := range ids {
		mustDo(t, admin, "CLIENT", "KILL", "ID", id)
	}
	mustDo(t, admin, "SET", "k", "v2") // during the gap
	eventually(t, "every killed connection's cache to be dropped", func() bool {
		return a.Stats().FlushClosed >= before.FlushClosed+uint64(before.Connections)
	})
	for range 100 {
		if v := read(t, a, "k"); v != "v2" {
			t.Fatalf("after the kill and its flush, read %q", v)
		}
	}
	// Tracked again on the new connection.
	hits := a.Stats().Hits
	read(t, a, "k")
	if a.Stats().Hits == hits {
		t.Fatal("not cached after reconnecting")
	}
	mustDo(t, admin, "SET", "k", "v3")
	eventually(t, "the write after reconnecting to be seen", func() bool { return read(t, a, "k") == "v3" })
}

// TestKill9AndRestart: redis-server killed with SIGKILL: reads fail
// closed (once the broken connection is noticed), or serve the stale
// value with StaleIfError; after a restart (empty, no persistence) the
// key is loaded again.
func TestKill9AndRestart(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	opt := rueidis.ClientOption{ConnWriteTimeout: 500 * time.Millisecond}
	a := newTestClient(t, srv.addr, ClientOptions{Redis: opt})
	s := newTestClient(t, srv.addr, ClientOptions{Redis: opt, StaleIfError: time.Minute})
	mustDo(t, admin, "SET", "k", "v1")
	mustDo(t, admin, "SET", "k2", "v1")
	read(t, a, "k")
	read(t, s, "k")
	read(t, s, "k2")
	// Another instance writes k2: s's stale copy of it goes with the
	// invalidation.
	inv := s.Stats().Invalidations
	mustDo(t, admin, "SET", "k2", "v2")
	eventually(t, "the invalidation of k2", func() bool { return s.Stats().Invalidations > inv })
	srv.kill9()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bg(), 2*time.Second) }
	eventually(t, "reads to fail closed", func() bool {
		ctx, cancel := short()
		defer cancel()
		v, err := a.GetOrLoad(ctx, "k", 0, noLoad)
		if err == nil && string(v) != "v1" {
			t.Fatalf("read %q", v)
		}
		return err != nil
	})
	var staleErr *velo.StaleError
	eventually(t, "the stale value to be served", func() bool {
		ctx, cancel := short()
		defer cancel()
		v, err := s.GetOrLoad(ctx, "k", 0, noLoad)
		if errors.As(err, &staleErr) {
			if string(v) != "v1" || !errors.Is(err, velo.ErrStale) {
				t.Fatalf("stale read %q %v", v, err)
			}
			return true
		}
		return false
	})
	t.Logf("while down: fail-closed error and stale value (age %v, cause %v)", staleErr.Age.Round(time.Millisecond), staleErr.Err)
	ctx, cancel := short()
	if v, err := s.GetOrLoad(ctx, "k2", 0, noLoad); err == nil || errors.Is(err, velo.ErrStale) {
		t.Fatalf("k2, invalidated before the crash, served: %q %v", v, err)
	}
	cancel()
	srv.start()
	eventually(t, "the restarted server's (empty) key to be loaded", func() bool {
		ctx, cancel := short()
		defer cancel()
		v, err := a.GetOrLoad(ctx, "k", time.Minute, constLoad("v2"))
		if err == nil && string(v) == "v1" {
			t.Fatal("served the value from before the restart after reconnecting")
		}
		return err == nil && string(v) == "v2"
	})
	if a.Stats().FlushClosed == 0 || a.Stats().Loads != 1 {
		t.Fatalf("stats %+v", a.Stats())
	}
}

// TestSIGSTOPFlushesWithinPingTimeout: a server that stops answering
// (SIGSTOP) is noticed by rueidis's pings, and the cache is dropped
// within a few ping periods and timeouts; after SIGCONT reads work again.
func TestSIGSTOPFlushesWithinPingTimeout(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	// rueidis pings an idle connection every Dialer.KeepAlive and gives
	// up on it when an answer takes longer than ConnWriteTimeout.
	const timeout, gap = 300 * time.Millisecond, 200 * time.Millisecond
	opt := rueidis.ClientOption{ConnWriteTimeout: timeout}
	opt.Dialer.KeepAlive = gap
	a := newTestClient(t, srv.addr, ClientOptions{Redis: opt})
	mustDo(t, admin, "SET", "k", "v1")
	read(t, a, "k")
	flushed := a.Stats().FlushClosed
	srv.signal(syscall.SIGSTOP)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			srv.signal(syscall.SIGCONT)
		}
	})
	took := eventually(t, "the cache of the hung connection to be dropped", func() bool {
		s := a.Stats()
		return s.FlushClosed > flushed && s.Keys == 0
	})
	t.Logf("dropped %v after SIGSTOP (ping every %v, ConnWriteTimeout %v)", took.Round(time.Millisecond), gap, timeout)
	if limit := 4*(gap+timeout) + bound; took > limit {
		t.Fatalf("dropped %v after SIGSTOP, want within %v", took, limit)
	}
	ctx, cancel := context.WithTimeout(bg(), 3*timeout)
	_, err := a.GetOrLoad(ctx, "k", 0, noLoad)
	cancel()
	if err == nil {
		t.Fatal("served while the server is stopped")
	}
	srv.signal(syscall.SIGCONT)
	stopped = false
	eventually(t, "reads after SIGCONT", func() bool {
		ctx, cancel := context.WithTimeout(bg(), 2*time.Second)
		defer cancel()
		v, err := a.GetOrLoad(ctx, "k", 0, noLoad)
		return err == nil && string(v) == "v1"
	})
}

// TestServerExpiryAndEvictionInvalidate: the local copy lives no longer
// than the server's PTTL, and keys the server expires or evicts are
// invalidated.
func TestServerExpiryAndEvictionInvalidate(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{})
	ctx := bg()

	mustDo(t, admin, "SET", "exp", "v", "PX", "400")
	r := a.Redis().DoCache(ctx, a.Redis().B().Get().Key("exp").Cache(), time.Hour)
	if v, err := r.ToString(); err != nil || v != "v" {
		t.Fatal(v, err)
	}
	if pttl := r.CachePTTL(); pttl <= 0 || pttl > 400 {
		t.Fatalf("client-side PTTL %d, want the server's (at most 400 ms)", pttl)
	}
	inv := a.Stats().Invalidations
	eventually(t, "the server's expiry to invalidate", func() bool { return a.Stats().Invalidations > inv })
	if v, err := a.GetOrLoad(ctx, "exp", time.Minute, constLoad("reloaded")); err != nil || string(v) != "reloaded" {
		t.Fatalf("after expiry: %q %v", v, err)
	}

	// Eviction: cap the server's memory a little above what it uses and
	// write until the cached key is evicted.
	mustDo(t, admin, "SET", "victim", "v")
	read(t, a, "victim")
	info, _ := do(t, admin, "INFO", "memory").ToString()
	var used int
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if n, ok := cutPrefixInt(line, "used_memory:"); ok {
			used = n
		}
	}
	mustDo(t, admin, "CONFIG", "SET", "maxmemory-policy", "allkeys-random")
	mustDo(t, admin, "CONFIG", "SET", "maxmemory", strconv.Itoa(used+4<<20))
	t.Cleanup(func() { do(t, admin, "CONFIG", "SET", "maxmemory", "0") })
	inv = a.Stats().Invalidations
	big := string(make([]byte, 64<<10))
	for i := 0; ; i++ {
		if n, _ := do(t, admin, "EXISTS", "victim").AsInt64(); n == 0 {
			break
		}
		if i > 10000 {
			t.Fatal("victim never evicted")
		}
		mustDo(t, admin, "SET", fmt.Sprint("filler", i), big)
	}
	eventually(t, "the eviction to invalidate", func() bool {
		v, err := a.GetOrLoad(ctx, "victim", 0, constLoad("reloaded"))
		return err == nil && string(v) == "reloaded"
	})
	if a.Stats().Invalidations == inv {
		t.Fatal("no invalidation counted")
	}
}

func cutPrefixInt(s, prefix string) (int, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return 0, false
	}
	n, err := strconv.Atoi(s[len(prefix):])
	return n, err == nil
}

// Test1000GoroutinesOneGETOneLoad: 1,000 goroutines that miss one key
// together make one GET to the server and one call of the load function.
// The server is stopped (SIGSTOP) until all of them wait for the one GET,
// and the load waits until the other 999 wait for it, so the result does
// not depend on scheduling.
func Test1000GoroutinesOneGETOneLoad(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	// One connection, whose pings wait a minute for a stopped server.
	a := newTestClient(t, srv.addr, ClientOptions{Redis: rueidis.ClientOption{PipelineMultiplex: -1, ConnWriteTimeout: time.Minute}})
	mustDo(t, admin, "SET", "warm-up", "v")
	read(t, a, "warm-up") // connected
	gets := serverGets(t, admin)
	before := a.Stats()
	srv.signal(syscall.SIGSTOP)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			srv.signal(syscall.SIGCONT)
		}
	})
	const n = 1000
	var loads atomic.Int64
	load := func(ctx context.Context, key string) ([]byte, error) {
		loads.Add(1)
		deadline := time.Now().Add(waitFor)
		for a.loadWaiters(key) < n-1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return []byte("loaded"), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := a.GetOrLoad(bg(), "hot", time.Minute, load)
			if err == nil && string(v) != "loaded" {
				err = fmt.Errorf("got %q", v)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	eventually(t, "all 1000 lookups to wait for one GET", func() bool {
		s := a.Stats()
		return s.Misses-before.Misses == 1 && s.Waits-before.Waits == n-1
	})
	srv.signal(syscall.SIGCONT)
	stopped = false
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := serverGets(t, admin) - gets; got != 1 {
		t.Fatalf("%d GETs reached the server, want 1", got)
	}
	if loads.Load() != 1 {
		t.Fatalf("%d loads, want 1", loads.Load())
	}
	s := a.Stats()
	t.Logf("misses %d, waits %d, loads %d, shared loads %d", s.Misses-before.Misses, s.Waits-before.Waits, s.Loads, s.SharedLoads)
}

// TestChurnBounded: an instance with a small budget reads far more keys
// than fit while another instance rewrites some of them; every map stays
// bounded by what is cached now.
func TestChurnBounded(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{Store: Options{MaxBytes: minConnBytes, ExpiryInterval: 10 * time.Millisecond}})
	const keys = 6000
	val := string(make([]byte, 1000))
	for i := 0; i < keys; i += 500 {
		args := []string{"MSET"}
		for j := i; j < i+500; j++ {
			args = append(args, fmt.Sprint("c", j), val)
		}
		mustDo(t, admin, args...)
	}
	maxKeys := 0
	for i := range 3 * keys {
		k := fmt.Sprint("c", rand.IntN(keys))
		if _, err := a.GetOrLoad(bg(), k, 0, noLoad); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			mustDo(t, admin, "SET", fmt.Sprint("c", rand.IntN(keys)), val)
		}
		if i%500 == 0 {
			s := a.Stats()
			if s.Keys > s.Velo.Entries+s.Pending {
				t.Fatalf("after %d reads: %d keys with an epoch, %d pending; velo %d entries", i, s.Keys, s.Pending, s.Velo.Entries)
			}
			maxKeys = max(maxKeys, s.Keys)
		}
	}
	s := a.Stats()
	if s.Velo.Evictions == 0 {
		t.Fatal("no evictions: the test did not churn")
	}
	a.mu.Lock()
	loads := len(a.loads)
	a.mu.Unlock()
	if loads != 0 || s.Pending != 0 {
		t.Fatalf("%d loads, %d requests in flight after all calls returned", loads, s.Pending)
	}
	t.Logf("%d keys read through %d bytes per connection: at most %d keys in the bookkeeping; %d evictions, %d invalidations", keys, minConnBytes, maxKeys, s.Velo.Evictions, s.Invalidations)
}

// TestCloseLeavesNoGoroutines: Close stops the rueidis client's and every
// velo cache's goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	mustDo(t, admin, "SET", "k", "v")
	base := runtime.NumGoroutine()
	c, err := NewClient(ClientOptions{Redis: rueidis.ClientOption{InitAddress: []string{srv.addr}}, StaleIfError: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		read(t, c, "k")
	}
	if c.Stats().Connections == 0 {
		t.Fatal("no connection cache")
	}
	c.Close()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
	if s := c.Stats(); s.Connections != 0 {
		t.Fatalf("%d connection caches open after Close", s.Connections)
	}
}

// TestDoMultiCacheThroughStore: a plain rueidis client with the store as
// its NewCacheStoreFn caches DoMultiCache replies of several commands per
// key, and an invalidation drops every command of its key.
func TestDoMultiCacheThroughStore(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	stores, err := NewStores(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.addr}, NewCacheStoreFn: stores.NewCacheStore})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := bg()
	for i := range 10 {
		mustDo(t, admin, "SET", fmt.Sprint("m", i), fmt.Sprint("v", i))
	}
	multi := func() []rueidis.RedisResult {
		var cmds []rueidis.CacheableTTL
		for i := range 10 {
			cmds = append(cmds, rueidis.CT(c.B().Get().Key(fmt.Sprint("m", i)).Cache(), time.Minute))
			cmds = append(cmds, rueidis.CT(c.B().Strlen().Key(fmt.Sprint("m", i)).Cache(), time.Minute))
		}
		return c.DoMultiCache(ctx, cmds...)
	}
	for _, r := range multi() {
		if err := r.Error(); err != nil || r.IsCacheHit() {
			t.Fatalf("first round: %v, hit %v", err, r.IsCacheHit())
		}
	}
	for _, r := range multi() {
		if !r.IsCacheHit() {
			t.Fatal("second round missed")
		}
	}
	mustDo(t, admin, "SET", "m3", "longer value")
	eventually(t, "the invalidation", func() bool { return stores.Stats().Invalidations > 0 })
	rs := multi()
	for i, r := range rs {
		if hit, want := r.IsCacheHit(), i/2 != 3; hit != want {
			t.Fatalf("reply %d: hit %v, want %v", i, hit, want)
		}
	}
	if v, _ := rs[6].ToString(); v != "longer value" {
		t.Fatalf("GET m3 = %q", v)
	}
	if n, _ := rs[7].AsInt64(); n != int64(len("longer value")) {
		t.Fatalf("STRLEN m3 = %d", n)
	}
}

// TestLoadErrorsAndPanics: a failed load stores nothing and is not
// remembered; a panicking load panics in its caller, fails the callers
// waiting for it, and leaves no load behind.
func TestLoadErrorsAndPanics(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	a := newTestClient(t, srv.addr, ClientOptions{})
	boom := errors.New("origin down")
	if _, err := a.GetOrLoad(bg(), "k", 0, func(context.Context, string) ([]byte, error) { return nil, boom }); err != boom {
		t.Fatalf("load error: %v", err)
	}
	if n, _ := do(t, admin, "EXISTS", "k").AsInt64(); n != 0 {
		t.Fatal("a failed load stored something")
	}
	release := make(chan struct{})
	waiter := make(chan error, 1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the load's panic did not reach its caller")
			}
		}()
		a.GetOrLoad(bg(), "k", 0, func(context.Context, string) ([]byte, error) {
			go func() {
				_, err := a.GetOrLoad(bg(), "k", 0, noLoad)
				waiter <- err
			}()
			deadline := time.Now().Add(waitFor)
			for a.loadWaiters("k") < 1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(release)
			panic("load bug")
		})
	}()
	<-release
	if err := <-waiter; err == nil {
		t.Fatal("the caller waiting for a panicking load got no error")
	}
	if v, err := a.GetOrLoad(bg(), "k", 0, constLoad("v")); err != nil || string(v) != "v" {
		t.Fatalf("after the panic: %q %v", v, err)
	}
	if s := a.Stats(); s.Loads != 3 || s.LoadErrors != 2 {
		t.Fatalf("loads %d, load errors %d", s.Loads, s.LoadErrors)
	}
}

// TestDelayedReplyExpiresWithTheServer: a GET's reply is held back (by a
// proxy) for 700 ms of its key's 1 s PTTL, with the server's active
// expiry off (so no invalidation comes when the key dies). The local
// copy must die when the server's does, about 1 s after the SET, not 1 s
// after the reply arrived: the PTTL counts from when the request was
// sent.
func TestDelayedReplyExpiresWithTheServer(t *testing.T) {
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	px := startProxy(t, srv.addr)
	a := newTestClient(t, px.addr(), ClientOptions{Redis: rueidis.ClientOption{PipelineMultiplex: -1}})
	rc := a.Redis()
	mustDo(t, admin, "DEBUG", "SET-ACTIVE-EXPIRE", "0")
	gets := serverGets(t, admin)
	mustDo(t, admin, "SET", "k", "v", "PX", "1000")
	set := time.Now()
	px.hold()
	done := make(chan error, 1)
	go func() { done <- rc.DoCache(bg(), rc.B().Get().Key("k").Cache(), time.Minute).Error() }()
	eventually(t, "the held GET to execute on the server", func() bool { return serverGets(t, admin) > gets })
	time.Sleep(time.Until(set.Add(700 * time.Millisecond)))
	px.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Served locally from now until it expires: no later than the server's
	// expiry, 1 s after the SET was sent (and so after set, less the SET's
	// round trip, which only makes the check stricter).
	// A hit's lookup began at start, so the copy was alive then; the
	// copy's expiry is in whole milliseconds, hence the slack.
	var last time.Duration
	for {
		h, start := a.Stats().Hits, time.Since(set)
		if err := rc.DoCache(bg(), rc.B().Get().Key("k").Cache(), time.Minute).Error(); err != nil && !rueidis.IsRedisNil(err) {
			t.Fatal(err)
		}
		if a.Stats().Hits == h {
			break
		}
		last = start
		time.Sleep(10 * time.Millisecond)
	}
	if last > 1005*time.Millisecond {
		t.Fatalf("served locally %v after SET PX 1000", last)
	}
}
