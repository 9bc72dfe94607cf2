package targets

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestPeers opens every peer target small, fills it, reads every key back,
// checks a miss, drives it from a few goroutines at once (for -race), and
// checks that close stops the goroutines the library started.
func TestPeers(t *testing.T) {
	cfg := Config{
		Keys:      1000,
		Capacity:  64 << 20,
		TTL:       time.Minute,
		Procs:     []int{1},
		ValueSize: 64,
	}
	// minHits is the share of the filled keys a read must find. Ristretto
	// may drop Sets (a full buffer, its admission policy) and bigcache may
	// lose entries to a shard overflow; the others must keep all of them.
	minHits := map[string]float64{"ristretto": 0.9, "bigcache": 0.9}

	keys := make([]string, cfg.Keys)
	values := make([][]byte, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
		// A distinct value per key, each in its own array: several
		// peers keep the slice they are given.
		values[i] = fmt.Appendf(nil, "%0*d", cfg.ValueSize, i)
	}

	if len(peerTargets) != 7 {
		t.Errorf("%d peer targets, want 7", len(peerTargets))
	}
	for _, pt := range peerTargets {
		t.Run(pt.name, func(t *testing.T) {
			if got := findTarget(pt.name); got == nil || got.about != pt.about {
				t.Fatalf("%s is not registered", pt.name)
			}
			if pt.about == "" {
				t.Error("empty about")
			}
			start := runtime.NumGoroutine()

			c, err := Open(pt.name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			defer func() {
				if !closed {
					c.Close()
				}
			}()

			for i, k := range keys {
				if err := c.Write(k, values[i], cfg.TTL); err != nil {
					t.Fatalf("write %s: %v", k, err)
				}
			}
			if w, ok := c.(Waiter); ok {
				w.Wait()
			}

			buf := make([]byte, 0, cfg.ValueSize)
			hits := 0
			for i, k := range keys {
				v, ok := c.Read(buf[:0], k)
				if !ok {
					continue
				}
				if !bytes.Equal(v, values[i]) {
					t.Fatalf("read %s = %q, want %q", k, v, values[i])
				}
				hits++
			}
			want := 1.0
			if m, ok := minHits[pt.name]; ok {
				want = m
			}
			if float64(hits) < want*float64(len(keys)) {
				t.Errorf("%d of %d keys hit, want at least %.0f%%", hits, len(keys), want*100)
			}
			if hits < len(keys) {
				t.Logf("%d of %d keys hit", hits, len(keys))
			}
			if v, ok := c.Read(buf[:0], "absent"); ok {
				t.Errorf("read of an absent key hit: %q", v)
			}

			// A short concurrent run, as the workers do it, for the
			// race detector. Each goroutine has its own buffer.
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					buf := make([]byte, 0, cfg.ValueSize)
					for j := range 500 {
						i := (g*131 + j*7) % len(keys)
						if j%4 == 0 {
							_ = c.Write(keys[i], values[i], cfg.TTL)
							continue
						}
						if v, ok := c.Read(buf[:0], keys[i]); ok && !bytes.Equal(v, values[i]) {
							t.Errorf("concurrent read %s = %q", keys[i], v)
							return
						}
					}
				})
			}
			wg.Wait()

			c.Close()
			closed = true
			checkGoroutines(t, start)
		})
	}
}

// checkGoroutines waits up to 2 s for the goroutine count to fall back to
// start. It runs the GC as it waits: go-cache's janitor stops only from a
// finalizer, once the closed adapter has dropped the cache, and otter may
// still be finishing a maintenance task it handed to a goroutine.
func checkGoroutines(t *testing.T, start int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= start {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines after close, %d before open:\n%s", n, start, buf)
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPeerTTLRounding checks that freecache never gets 0 seconds (no
// expiry) for a TTL under a second.
func TestPeerTTLRounding(t *testing.T) {
	c, err := Open("freecache", Config{Keys: 10, Capacity: 1 << 20, TTL: time.Minute, ValueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := c.(freecachePeer)
	// The entry expires at the next whole second, so a second boundary
	// between the write and the look may expire it: try a few times.
	for range 3 {
		if err := c.Write("k", []byte("v"), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		_, expireAt, err := f.c.PeekWithExpiration([]byte("k"))
		if err != nil {
			continue
		}
		if now := uint32(time.Now().Unix()); expireAt == 0 || expireAt > now+1 {
			t.Errorf("a 10ms write expires at %d, now %d; want now+1", expireAt, now)
		}
		return
	}
	t.Error("a 10ms write was never found")
}

// TestFastcacheLargeEntry checks that an entry fastcache would drop
// silently is an error instead.
func TestFastcacheLargeEntry(t *testing.T) {
	c, err := Open("fastcache", Config{Keys: 10, Capacity: 32 << 20, TTL: time.Minute, ValueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Write("k", make([]byte, 64<<10), time.Minute); err == nil {
		t.Error("a 64 KiB value was accepted")
	}
	if err := c.Write("k", make([]byte, 1<<10), time.Minute); err != nil {
		t.Errorf("a 1 KiB value: %v", err)
	}
}

// TestVeloBytes: sized by entries, velo gets the byte-bounded peers'
// bound, room for the entries rounded up to a MiB; sized by bytes, it
// gets -capacity.
func TestVeloBytes(t *testing.T) {
	cfg := Config{Keys: 10923, ValueSize: 64, Capacity: 256 << 20, Entries: 1 << 15}
	if got := VeloBytes(cfg); got != 256<<20 {
		t.Errorf("sized by bytes: VeloBytes = %d, want -capacity %d", got, 256<<20)
	}
	cfg.SizeByEntries = true
	// 2^15 entries of 24 + len("user:00010922") + 64 bytes: 3.16 MiB.
	if got := VeloBytes(cfg); got != 4<<20 || got != PeerBytes(cfg) {
		t.Errorf("sized by entries: VeloBytes = %d, want 4 MiB, as PeerBytes (%d)", got, PeerBytes(cfg))
	}
}
