package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/velocache/velo"
)

// cache is what a worker drives: one implementation per target.
type cache interface {
	// read looks key up. A target that copies values copies into dst's
	// array (growing it if needed) and returns the copy; one that hands
	// out a shared reference may return it and ignore dst.
	read(dst []byte, key string) ([]byte, bool)
	// write stores value under key with the TTL. The target may keep
	// value (the workload never modifies it) or copy it.
	write(key string, value []byte, ttl time.Duration) error
	// close releases the cache and stops its goroutines.
	close()
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
	open func(cfg config) (cache, error)
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

func targetNames() []string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	return names
}

func init() {
	register(target{
		name:  "velo",
		about: "velo, reading with AppendValue into the goroutine's buffer (MaxBytes = -capacity, MaxEntries = -entries)",
		open: func(cfg config) (cache, error) {
			c, err := velo.New(velo.Options{MaxBytes: cfg.Capacity, MaxEntries: cfg.Entries})
			if err != nil {
				return nil, err
			}
			return veloCache{c}, nil
		},
	})
	register(target{
		name: "velo-view",
		about: "velo, reading with View: the value is not copied, as otter, theine, ristretto, go-cache and mutexmap " +
			"hand out their stored slice (MaxBytes = -capacity, MaxEntries = -entries)",
		open: func(cfg config) (cache, error) {
			c, err := velo.New(velo.Options{MaxBytes: cfg.Capacity, MaxEntries: cfg.Entries})
			if err != nil {
				return nil, err
			}
			return veloView{veloCache{c}}, nil
		},
	})
	register(target{
		name:  "mutexmap",
		about: "the blog's map behind one sync.RWMutex, time.Now expiry checks, no copies",
		open:  func(config) (cache, error) { return mutexCache{newMutexMap()}, nil },
	})
}

type veloCache struct{ c *velo.Cache }

func (v veloCache) read(dst []byte, key string) ([]byte, bool) { return v.c.AppendValue(dst, key) }
func (v veloCache) write(key string, value []byte, ttl time.Duration) error {
	return v.c.Set(key, value, ttl)
}
func (v veloCache) close() { v.c.Close() }

// veloView reads without a copy; the value is left untouched, as the
// targets that return their stored slice leave theirs.
type veloView struct{ veloCache }

func (v veloView) read(dst []byte, key string) ([]byte, bool) {
	return dst, v.c.View(key, func([]byte) {})
}

type mutexCache struct{ m *mutexMap }

func (m mutexCache) read(_ []byte, key string) ([]byte, bool) { return m.m.Get(key) }
func (m mutexCache) write(key string, value []byte, ttl time.Duration) error {
	m.m.Set(key, value, ttl)
	return nil
}
func (m mutexCache) close() { m.m.Close() }

// openTarget returns an empty cache of the named target.
func openTarget(name string, cfg config) (cache, error) {
	t := findTarget(name)
	if t == nil {
		return nil, fmt.Errorf("unknown target %q", name)
	}
	return t.open(cfg)
}
