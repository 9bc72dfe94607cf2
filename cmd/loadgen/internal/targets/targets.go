// Package targets holds the caches loadgen measures, each behind the Cache
// interface and set up as its own documentation recommends: velo, the
// design it replaces (a map behind one sync.RWMutex), the peer caches and
// Redis. It promises that every target is sized from a Config alone, that
// Close stops what the library started, and that the byte-bounded (-fill,
// and -trace with capacities in bytes) and entry-bounded (-trace) setups
// live next to the throughput ones.
package targets

import (
	"fmt"
	"slices"
	"time"

	"github.com/velocache/velo"
)

// Cache is what a worker drives: one implementation per target.
type Cache interface {
	// Read looks key up. A target that copies values copies into dst's
	// array (growing it if needed) and returns the copy; one that hands
	// out a shared reference may return it and ignore dst.
	Read(dst []byte, key string) ([]byte, bool)
	// Write stores value under key with the TTL. The target may keep
	// value (the workload never modifies it) or copy it.
	Write(key string, value []byte, ttl time.Duration) error
	// Close releases the cache and stops its goroutines.
	Close()
}

// Config is what a target is sized from.
type Config struct {
	Keys      int   // distinct keys the run writes
	ValueSize int   // the largest value, in bytes
	Capacity  int64 // the byte bound: velo's MaxBytes and the byte-bounded peers'
	// Entries is velo's MaxEntries and the entry bound of otter and theine
	// (0: 2 x Keys for those, none for velo).
	Entries int
	// SizeByEntries bounds every peer by Entries (PeerBytes).
	SizeByEntries bool
	TTL           time.Duration
	Procs         []int  // the GOMAXPROCS settings of the run
	RedisAddr     string // host:port of the Redis server
}

// A target is a cache loadgen can measure.
type target struct {
	name string
	// about is one line for -h: what the target is and how it is set up.
	about string
	// open returns an empty cache sized for the run: cfg.Capacity bytes
	// (or, for caches bounded by entry count, cfg.Keys entries or more, so
	// that the pre-filled key set fits), ready for up to
	// slices.Max(cfg.Procs) goroutines. It is called after GOMAXPROCS is
	// set for the cell.
	open func(cfg Config) (Cache, error)
	// unbounded: the cache keeps every key written, whatever the bounds
	// (see Unbounded).
	unbounded bool
}

// targets, in the order -h lists them. Files other than this one add
// theirs in init functions with register.
var targets []target

func register(t target) {
	if findTarget(t.name) != nil {
		panic("loadgen: target registered twice: " + t.name)
	}
	targets = append(targets, t)
}

func findTarget(name string) *target {
	i := slices.IndexFunc(targets, func(t target) bool { return t.name == name })
	if i < 0 {
		return nil
	}
	return &targets[i]
}

// Unbounded reports whether the target name keeps every key written,
// whatever -capacity and -entries say (go-cache, the mutex map, Redis,
// which only the server's maxmemory bounds): it is no
// bounded cache's peer in a comparison where the others are sized alike.
func Unbounded(name string) bool {
	t := findTarget(name)
	return t != nil && t.unbounded
}

// Names lists the targets in the order -h lists them.
func Names() []string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	return names
}

func init() {
	register(target{
		name:  "velo",
		about: "velo, reading with AppendValue into the goroutine's buffer (MaxBytes = -capacity, or under -size-by entries the peers' byte bound; MaxEntries = -entries)",
		open: func(cfg Config) (Cache, error) {
			c, err := velo.New(velo.Options{MaxBytes: VeloBytes(cfg), MaxEntries: cfg.Entries})
			if err != nil {
				return nil, err
			}
			return veloCache{c}, nil
		},
	})
	register(target{
		name: "velo-view",
		about: "velo, reading with View: the value is not copied, as otter, theine, ristretto, go-cache and mutexmap " +
			"hand out their stored slice (MaxBytes = -capacity, or under -size-by entries the peers' byte bound; MaxEntries = -entries)",
		open: func(cfg Config) (Cache, error) {
			c, err := velo.New(velo.Options{MaxBytes: VeloBytes(cfg), MaxEntries: cfg.Entries})
			if err != nil {
				return nil, err
			}
			return veloView{veloCache{c}}, nil
		},
	})
	register(target{
		name:  "mutexmap",
		about: "a map behind one sync.RWMutex, time.Now expiry checks, no copies",
		open:  func(Config) (Cache, error) { return mutexCache{newMutexMap()}, nil },

		unbounded: true,
	})
}

type veloCache struct{ c *velo.Cache }

func (v veloCache) Read(dst []byte, key string) ([]byte, bool) { return v.c.AppendValue(dst, key) }
func (v veloCache) Write(key string, value []byte, ttl time.Duration) error {
	return v.c.Set(key, value, ttl)
}
func (v veloCache) Close() { v.c.Close() }

// VeloCache is c behind the Cache interface, as the velo target drives it.
func VeloCache(c *velo.Cache) Cache { return veloCache{c} }

// veloView reads without a copy; the value is left untouched, as the
// targets that return their stored slice leave theirs.
type veloView struct{ veloCache }

func (v veloView) Read(dst []byte, key string) ([]byte, bool) {
	return dst, v.c.View(key, func([]byte) {})
}

type mutexCache struct{ m *mutexMap }

func (m mutexCache) Read(_ []byte, key string) ([]byte, bool) { return m.m.Get(key) }
func (m mutexCache) Write(key string, value []byte, ttl time.Duration) error {
	m.m.Set(key, value, ttl)
	return nil
}
func (m mutexCache) Close() { m.m.Close() }

// Known reports whether name is a target.
func Known(name string) bool { return findTarget(name) != nil }

// Open returns an empty cache of the named target.
func Open(name string, cfg Config) (Cache, error) {
	t := findTarget(name)
	if t == nil {
		return nil, fmt.Errorf("unknown target %q", name)
	}
	return t.open(cfg)
}

// WriteAll writes the n entries that entry makes. A target whose writes
// are applied asynchronously (ristretto) drops writes when its buffer is
// full, so WriteAll waits for it every 1024 writes and at the end: none is
// dropped.
func WriteAll(c Cache, n int, ttl time.Duration, entry func(i int) (string, []byte)) error {
	w, async := c.(Waiter)
	for i := range n {
		k, v := entry(i)
		if err := c.Write(k, v, ttl); err != nil {
			return err
		}
		if async && i%1024 == 1023 {
			w.Wait()
		}
	}
	if async {
		w.Wait()
	}
	return nil
}
