package velo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

var soak = flag.Bool("soak", false, "run the stress tests for minutes instead of seconds")

// Stress values carry their own proof of integrity:
//
//	[0:8)   xxhash of the key the value was written for
//	[8:16)  version: per key, increasing with every write
//	[16:n-8) payload: bytes derived from (key hash, version)
//	[n-8:n) xxhash of bytes [0:n-8)
//
// A torn read fails the checksum, a read of another key's entry fails the
// key hash, a read from a recycled or stale segment fails one of those or
// the version order (each key has one writer, whose versions only grow, so
// one reader must never see a key's version go backwards).
func stressValue(key string, version uint64, size int) []byte {
	size = max(size, 24)
	v := make([]byte, size)
	kh := xxhash.Sum64String(key)
	binary.LittleEndian.PutUint64(v[0:8], kh)
	binary.LittleEndian.PutUint64(v[8:16], version)
	for i := 16; i < size-8; i++ {
		v[i] = byte(kh>>(i%8*8)) ^ byte(version) ^ byte(i)
	}
	binary.LittleEndian.PutUint64(v[size-8:], xxhash.Sum64(v[:size-8]))
	return v
}

func checkStressValue(key string, v []byte) (version uint64, err error) {
	if len(v) < 24 {
		return 0, fmt.Errorf("key %q: value of %d bytes is too short", key, len(v))
	}
	n := len(v)
	if got, want := binary.LittleEndian.Uint64(v[n-8:]), xxhash.Sum64(v[:n-8]); got != want {
		return 0, fmt.Errorf("key %q: checksum %x, want %x (torn value)", key, got, want)
	}
	if got, want := binary.LittleEndian.Uint64(v[0:8]), xxhash.Sum64String(key); got != want {
		return 0, fmt.Errorf("key %q: value belongs to key hash %x, want %x", key, got, want)
	}
	return binary.LittleEndian.Uint64(v[8:16]), nil
}

type stressConfig struct {
	name    string
	opts    Options
	keys    int
	maxSize int
	// fits: the working set fits the budget, so reclaiming compacts
	// (moving live entries to the cold heads while readers read them)
	// rather than evicts; the run must see entries moved, not evicted.
	fits bool
	// oversubscribed: GOMAXPROCS is twice the CPUs while the cache is
	// made and run, so that Sets that find the lock taken block on it
	// soon after they spin (engine's shortWait) rather than late.
	oversubscribed bool
}

func TestStress(t *testing.T) {
	d := 1500 * time.Millisecond
	if *soak {
		d = 2 * time.Minute
	} else if testing.Short() {
		d = 300 * time.Millisecond
	}
	configs := []stressConfig{
		// A budget far below the working set: segments rotate constantly.
		// Expired entries are kept 50 ms for GetOrLoad to serve stale.
		{name: "bytes", opts: Options{MaxBytes: 256 << 10, Shards: 4, SegmentBytes: 8 << 10, ExpiryInterval: 2 * time.Millisecond, StaleIfError: 50 * time.Millisecond, StaleRetry: time.Millisecond}, keys: 4000, maxSize: 600},
		// The CLOCK hand evicts entry by entry.
		{name: "entries", opts: Options{MaxBytes: 4 << 20, MaxEntries: 500, Shards: 2, ExpiryInterval: 2 * time.Millisecond}, keys: 3000, maxSize: 200},
		// Thousands of entries a shard under eviction churn: the index
		// tables are large enough that a migration spans hundreds of
		// inserts, and deletes empty slots while readers probe them.
		{name: "large", opts: Options{MaxBytes: 1 << 20, Shards: 2, ExpiryInterval: 2 * time.Millisecond}, keys: 100000, maxSize: 100},
		// A working set of about a third of the budget, overwritten:
		// compaction moves live entries to the cold heads under readers.
		{name: "compacting", opts: Options{MaxBytes: 1 << 20, Shards: 2, SegmentBytes: 16 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 2000, maxSize: 200, fits: true},
		// Values up to three quarters of a segment, a third of them
		// above a quarter: those get a segment each, which retirement
		// relinks (a read one) or releases under readers, and whose pool
		// of large segments is recycled.
		{name: "large values", opts: Options{MaxBytes: 1 << 20, Shards: 2, SegmentBytes: 16 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 600, maxSize: 12 << 10},
		// The same values under an entry bound, over shards that each
		// hold a few entries: the CLOCK hands pass over large entries'
		// segments, and a shard may hold only the entry just written.
		{name: "large values, entries", opts: Options{MaxBytes: 4 << 20, MaxEntries: 40, Shards: 8, SegmentBytes: 16 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 600, maxSize: 12 << 10},
		// Fewer entries than shards: most shards are empty, and a Set
		// into one evicts in another, taking its lock only if free.
		{name: "entries below shards", opts: Options{MaxBytes: 4 << 20, MaxEntries: 6, Shards: 16, ExpiryInterval: 2 * time.Millisecond}, keys: 200, maxSize: 200},
		// Many shards of a few segments each, with large values: a shard
		// whose segments are its heads and the entry just written
		// reclaims in other shards (compacting or evicting there), and
		// passes over those another goroutine holds.
		{name: "many shards", opts: Options{MaxBytes: 1 << 20, Shards: 64, SegmentBytes: 4 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 600, maxSize: 6 << 10},
		// The same shards, with a working set of a fifth of the budget
		// in packed entries: reclaiming compacts, in other shards when a
		// shard has nothing of its own to compact, passing over those
		// another goroutine holds. (The heads, two of 8 KiB a shard,
		// take most of the budget: evictions happen too.)
		// Sixty-four keys in one small shard, all writers on them: Sets that find
		// the lock taken are made by its holder (engine/combine.go),
		// with the caller's value, which the caller scribbles on once
		// Set returns.
		{name: "hot keys", opts: Options{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 64, maxSize: 200, fits: true},
		{name: "hot keys, more processors than CPUs", opts: Options{MaxBytes: 64 << 10, Shards: 1, SegmentBytes: 4 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 64, maxSize: 200, fits: true, oversubscribed: true},
		{name: "many shards, compacting", opts: Options{MaxBytes: 1 << 20, Shards: 64, SegmentBytes: 8 << 10, ExpiryInterval: 2 * time.Millisecond}, keys: 300, maxSize: 2 << 10, fits: true},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) { runStress(t, cfg, d) })
	}
}

var errStressLoad = errors.New("stress: load failed")

// stressSnapshot saves c while it is under load, loads the snapshot into a
// fresh cache and checks every value that came back.
func stressSnapshot(c *Cache, fail func(error)) {
	var buf bytes.Buffer
	if err := c.SaveTo(&buf); err != nil {
		fail(fmt.Errorf("SaveTo: %w", err))
		return
	}
	d, err := New(Options{MaxBytes: 64 << 20})
	if err != nil {
		fail(err)
		return
	}
	defer d.Close()
	if err := d.LoadFrom(&buf); err != nil {
		fail(fmt.Errorf("LoadFrom: %w", err))
		return
	}
	for key, v := range d.All() {
		if _, err := checkStressValue(key, v); err != nil {
			fail(fmt.Errorf("snapshot: %w", err))
		}
	}
}

// stressOpsBound bounds the operations a stress run makes after its
// duration while it waits for what it must have seen (an eviction, a hit,
// a load...): reaching it without them is a failure, not slowness.
const stressOpsBound = 5_000_000

func runStress(t *testing.T, cfg stressConfig, d time.Duration) {
	var (
		ops      atomic.Int64 // Sets, Deletes and reads made
		stop     atomic.Bool
		failures atomic.Int64
		hits     atomic.Int64
		removals atomic.Int64
		iterated atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		if failures.Add(1) <= 10 {
			t.Error(err)
		}
	}
	// Every removal reported carries an intact value of its own key.
	opts := cfg.opts
	opts.RefreshAhead = 0.5
	opts.OnRemove = func(key string, value []byte, reason Reason) {
		if _, err := checkStressValue(key, value); err != nil {
			fail(fmt.Errorf("OnRemove(%v): %w", reason, err))
		}
		removals.Add(1)
	}
	if cfg.oversubscribed {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2 * runtime.NumCPU()))
	}
	c, err := New(opts)
	require.NoError(t, err)
	defer c.Close()

	const writers, readers = 4, 4
	keys := make([]string, cfg.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("stress-%d", i)
	}
	// Writer w owns the keys i with i%writers == w, so each key's versions
	// come from one goroutine and only grow.
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			versions := make([]uint64, len(keys))
			for !stop.Load() {
				i := rng.IntN(len(keys)/writers)*writers + w
				key := keys[i]
				ops.Add(1)
				switch r := rng.IntN(100); {
				case r < 10:
					c.Delete(key)
				default:
					versions[i]++
					ttl := time.Duration(0)
					if r < 40 {
						ttl = time.Duration(1+rng.IntN(20)) * time.Millisecond
					}
					v := stressValue(key, versions[i], 24+rng.IntN(cfg.maxSize))
					if err := c.Set(key, v, ttl); err != nil {
						fail(err)
					}
					v[20] ^= 0xff // Set copied: scribbling now must not show
				}
			}
		}(w)
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			seen := make([]uint64, len(keys))
			buf := make([]byte, 0, 64)
			for !stop.Load() {
				i := rng.IntN(len(keys))
				ops.Add(1)
				var v []byte
				var ok bool
				switch rng.IntN(3) {
				case 0:
					v, ok = c.Get(keys[i])
				case 1:
					buf, ok = c.AppendValue(buf[:0], keys[i])
					v = buf
				default:
					// View's slice is the cache's memory: check it
					// inside fn, while it is valid, then use a copy.
					// Now and then fn runs long, holding back the
					// reuse of every segment released meanwhile: the
					// writers go on, and the value stays whole.
					long := rng.IntN(2000) == 0
					ok = c.View(keys[i], func(value []byte) {
						if long {
							time.Sleep(2 * time.Millisecond)
						}
						if _, err := checkStressValue(keys[i], value); err != nil {
							fail(fmt.Errorf("View: %w", err))
						}
						buf = append(buf[:0], value...)
					})
					v = buf
				}
				if !ok {
					continue
				}
				hits.Add(1)
				ver, err := checkStressValue(keys[i], v)
				if err != nil {
					fail(err)
					continue
				}
				if ver < seen[i] {
					fail(fmt.Errorf("key %q: version %d after %d (stale read)", keys[i], ver, seen[i]))
				}
				seen[i] = ver
			}
		}(r)
	}
	// Observers: Len, Stats and Has race with everything else.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			s := c.Stats()
			// A write adds a segment before it reclaims, and Stats reads
			// the shards one at a time while reclaims move budget between
			// them: a segment per shard (at most half its share) of slack.
			if slack := cfg.opts.MaxBytes / 2; s.HeldBytes > cfg.opts.MaxBytes+slack {
				fail(fmt.Errorf("segments hold %d bytes, over the %d budget", s.HeldBytes, cfg.opts.MaxBytes))
			}
			if s.Bytes > s.HeldBytes {
				fail(fmt.Errorf("live bytes %d over what the segments hold, %d", s.Bytes, s.HeldBytes))
			}
			// The bound is the engine's; each writer may be one new key
			// over it until its Set evicts.
			if n := cfg.opts.MaxEntries; n > 0 && c.Len() > n+writers+2 {
				fail(fmt.Errorf("%d entries, over the bound of %d", c.Len(), n))
			}
			c.Has(keys[0])
			if ttl, ok := c.TTL(keys[1]); ok && ttl < 0 {
				fail(fmt.Errorf("TTL(%q) = %v", keys[1], ttl))
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Loaders: GetOrLoad over keys of their own (so that the writers'
	// version order holds), with short TTLs so that entries expire, are
	// refreshed ahead and loaded again; some loads fail or panic.
	var loads, loaded atomic.Int64
	for l := 0; l < 2; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(l), 3))
			for !stop.Load() {
				key := fmt.Sprintf("load-%d", rng.IntN(cfg.keys/4))
				kind := rng.IntN(8)
				absent, flaky := kind == 0, kind == 1
				switch {
				case absent:
					// A key the origin does not have, asked for again
					// while its absence is cached.
					key = fmt.Sprintf("absent-%d", rng.IntN(16))
				case flaky:
					// A key whose short-lived value fails to reload every
					// other time: a stale value to serve, where the cache
					// keeps them (StaleIfError).
					key = fmt.Sprintf("flaky-%d", rng.IntN(16))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(3))*time.Millisecond)
				v, err := c.GetOrLoad(ctx, key, func(context.Context) ([]byte, time.Duration, error) {
					n := loads.Add(1)
					if absent {
						return nil, time.Duration(100+n%200) * time.Millisecond, ErrNotFound
					}
					if flaky {
						if n%2 == 0 {
							return nil, 0, errStressLoad
						}
						return stressValue(key, uint64(n), 24+int(n)%cfg.maxSize), time.Millisecond, nil
					}
					switch n % 50 {
					case 0:
						return nil, 0, errStressLoad
					case 1:
						panic("stress loader panic")
					case 2, 3, 4:
						// An absence, cached for a few milliseconds.
						return nil, time.Duration(1+n%3) * time.Millisecond, ErrNotFound
					}
					return stressValue(key, uint64(n), 24+int(n)%cfg.maxSize), time.Duration(1+n%10) * time.Millisecond, nil
				})
				cancel()
				var pe *PanicError
				switch {
				case err == nil:
					if _, err := checkStressValue(key, v); err != nil {
						fail(fmt.Errorf("GetOrLoad: %w", err))
					}
					loaded.Add(1)
				case errors.Is(err, ErrStale):
					if _, err := checkStressValue(key, v); err != nil {
						fail(fmt.Errorf("GetOrLoad, stale: %w", err))
					}
				case absent && errors.Is(err, ErrNotFound):
					// Asked again at once, as a client retrying would: the
					// absence is cached, unless eviction took it already
					// (this cache evicts within milliseconds an entry
					// nobody reads).
					_, err := c.GetOrLoad(context.Background(), key, func(context.Context) ([]byte, time.Duration, error) {
						return nil, time.Second, ErrNotFound
					})
					if !errors.Is(err, ErrNotFound) {
						fail(fmt.Errorf("GetOrLoad(%q) again: %v, not ErrNotFound", key, err))
					}
				case errors.Is(err, errStressLoad), errors.As(err, &pe), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrNotFound):
				default:
					fail(fmt.Errorf("GetOrLoad(%q): %w", key, err))
				}
			}
		}(l)
	}
	// The stale path, driven: a value that expires within a millisecond,
	// then a reload that fails, which StaleIfError answers with the
	// expired value (the flaky keys above get there only by chance, and
	// eviction pressure may take their entries first).
	if cfg.opts.StaleIfError > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("stale-%d", i%8)
				_, err := c.GetOrLoad(ctx, key, func(context.Context) ([]byte, time.Duration, error) {
					return stressValue(key, uint64(i), 64), time.Millisecond, nil
				})
				if err != nil {
					continue // a stale answer, within StaleRetry of the last failure
				}
				time.Sleep(2 * time.Millisecond)
				v, err := c.GetOrLoad(ctx, key, func(context.Context) ([]byte, time.Duration, error) {
					return nil, 0, errStressLoad
				})
				switch {
				case errors.Is(err, ErrStale):
					if _, err := checkStressValue(key, v); err != nil {
						fail(fmt.Errorf("GetOrLoad, stale: %w", err))
					}
				case err == nil:
					if _, err := checkStressValue(key, v); err != nil {
						fail(fmt.Errorf("GetOrLoad: %w", err))
					}
				case errors.Is(err, errStressLoad):
				default:
					fail(fmt.Errorf("GetOrLoad(%q): %w", key, err))
				}
			}
		}()
	}
	// An iterator walks the cache over and over, and clears it now and
	// then: each key at most once a pass, every value intact.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pass := 0; !stop.Load(); pass++ {
			seen := make(map[string]bool)
			for key, v := range c.All() {
				if seen[key] {
					fail(fmt.Errorf("All yielded %q twice in one pass", key))
				}
				seen[key] = true
				if _, err := checkStressValue(key, v); err != nil {
					fail(fmt.Errorf("All: %w", err))
				}
				iterated.Add(1)
			}
			if pass%20 == 19 {
				c.Clear()
			}
			if pass%10 == 5 {
				stressSnapshot(c, fail)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	// Run for d, then on until every path the test checks has run: on a
	// loaded machine d may pass before the cache came under eviction
	// pressure. The operation bound turns a path that never runs into a
	// failure rather than a hang.
	time.Sleep(d)
	missing := func() string {
		switch {
		case hits.Load() == 0:
			return "no verified hit: the test must actually read values"
		case removals.Load() == 0:
			return "OnRemove was never called"
		case iterated.Load() == 0:
			return "All never yielded an entry"
		case loaded.Load() == 0:
			return "GetOrLoad never returned a value"
		case c.Stats().NegativeHits == 0:
			return "GetOrLoad never answered from a cached absence"
		case cfg.opts.StaleIfError > 0 && c.Stats().StaleServed == 0:
			return "GetOrLoad never served a stale value"
		case !cfg.fits && c.Stats().Evictions == 0:
			return "no eviction: the cache must be under eviction pressure"
		case cfg.fits && c.Stats().MovedBytes == 0:
			return "no entry moved: the cache must compact"
		case c.recycled() == 0:
			return "no segment was recycled: readers must meet reused memory"
		}
		return ""
	}
	for after := ops.Load(); missing() != "" && ops.Load()-after < stressOpsBound; {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	s := c.Stats()
	t.Logf("%v: %d operations, %d verified hits, %d removals, %d iterated; %+v", d, ops.Load(), hits.Load(), removals.Load(), iterated.Load(), s)
	t.Logf("GetOrLoad: %d loader calls, %d values returned", loads.Load(), loaded.Load())
	if m := missing(); m != "" {
		t.Fatalf("after %d operations: %s", ops.Load(), m)
	}
}

// TestStressClose closes the cache while goroutines use it: nothing may
// panic, and every operation after Close fails cleanly. In odd rounds the
// Close comes from inside: an OnRemove callback (in a Set's goroutine or
// the sweep's) and a load function race to close it, with one from
// outside; none may wait for itself.
func TestStressClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		var c *Cache
		var removals atomic.Int64
		opts := Options{MaxBytes: 64 << 10, ExpiryInterval: time.Millisecond}
		inside := round%2 == 1
		if inside {
			opts.OnRemove = func(string, []byte, Reason) {
				if removals.Add(1) == int64(50*round) {
					c.Close()
				}
			}
		}
		c, err := New(opts)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					key := fmt.Sprint(g, "-", i%100)
					err := c.Set(key, stressValue(key, uint64(i), 100), time.Millisecond)
					if err != nil && !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					if v, ok := c.Get(key); ok {
						if _, err := checkStressValue(key, v); err != nil {
							t.Error(err)
						}
					}
					if inside && i == 1000 && g == 0 {
						_, err := c.GetOrLoad(context.Background(), "closer", func(context.Context) ([]byte, time.Duration, error) {
							return nil, 0, c.Close()
						})
						if err != nil && !errors.Is(err, ErrClosed) {
							t.Error(err)
						}
					}
					c.Delete(key)
				}
			}(g)
		}
		time.Sleep(time.Duration(round) * 100 * time.Microsecond)
		require.NoError(t, c.Close())
		wg.Wait()
	}
}
