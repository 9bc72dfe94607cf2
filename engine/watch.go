package engine

import "time"

// A Watch is a claim, taken by Engine.Watch, that lets a background reload
// of a key store its value (Engine.StoreWatched) only if no write of the
// key came between: a Set, Delete, SetAbsent or Restore of the key, or a
// Clear, ends it. What the engine does to the entry on its own does not:
// the entry may expire, be moved to another segment by compaction, or be
// evicted meanwhile, and the reload's value is still the newest the key
// has, so it is stored.
//
// A shard keeps its watches in a map by key hash, each with an id of its
// own, so that a watch that was ended and taken again is told apart from
// the first. Two keys with the same 64-bit hash share a place: a watch of
// one ends the other's, which then stores nothing, as if the key had been
// written.
type Watch struct {
	h  uint64
	id uint64 // 0: no watch
}

// Watch starts watching key for a reload of the entry described by over
// (from GetInfo), and reports whether it could: not if key's entry is no
// longer that one (a write came between the read and the watch), or the
// engine is closed. The caller ends the watch with StoreWatched or
// Unwatch.
func (e *Engine) Watch(key string, over EntryInfo) (Watch, bool) {
	if e.closed.Load() || over.at == 0 {
		return Watch{}, false
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	if !sh.lockOpen() {
		return Watch{}, false
	}
	defer sh.mu.Unlock()
	l, ok := sh.index.load(h)
	if !ok || l.place() != over.at {
		return Watch{}, false
	}
	if sh.watches == nil {
		sh.watches = make(map[uint64]uint64)
	}
	sh.watchIDs++
	sh.watches[h] = sh.watchIDs
	sh.watching = true
	return Watch{h, sh.watchIDs}, true
}

// StoreWatched stores key as Set does if w, a watch of key, has not been
// ended by a write of key since it began, and reports whether it stored.
// It ends the watch either way.
func (e *Engine) StoreWatched(key string, value []byte, ttl time.Duration, w Watch) (bool, error) {
	ttl, ok := e.checkWrite(key, value, ttl)
	if !ok {
		e.Unwatch(w)
		return false, e.refuse(key, value, ttl)
	}
	return e.store(key, value, ttl, fromNow, w, storedValue)
}

// Unwatch ends w, if it has not ended yet.
func (e *Engine) Unwatch(w Watch) {
	if w.id == 0 {
		return
	}
	sh := e.shardOf(w.h)
	sh.mu.Lock()
	sh.endWatch(w)
	sh.mu.Unlock()
}

// endWatch ends w and reports whether it was still on. Caller holds mu.
func (sh *shard) endWatch(w Watch) bool {
	if !sh.watching || sh.watches[w.h] != w.id {
		return false
	}
	delete(sh.watches, w.h)
	sh.watching = len(sh.watches) > 0
	return true
}

// written ends any watch of the key hashed h: it was written. Caller holds
// mu. Writes check sh.watching, on the line of mu, first: no watch is on
// in nearly every shard at nearly every moment.
func (sh *shard) written(h uint64) {
	delete(sh.watches, h)
	sh.watching = len(sh.watches) > 0
}
