package engine

import "time"

// A Watch is a claim, taken by Engine.Watch or Engine.WatchMiss, that lets
// a load of a key store its result (Engine.SetWatched,
// Engine.SetAbsentWatched) only if no write of the key came between: a
// Set, Delete, SetAbsent or Restore of the key, or a Clear, ends it. A
// load reads its origin after the watch starts, so what it read is older
// than any such write, and storing it would undo the write (an
// invalidating Delete, say). What the engine does to the entry on its own
// does not end a watch: the entry may expire, be moved to another segment
// by compaction, or be evicted meanwhile, and the load's value is still
// the newest the key has, so it is stored.
//
// A shard keeps its watches in a map by key hash. Watches of one key taken
// while none of its writes came between share an id and end together at
// its next write, a store through one of them included; a watch taken
// after that write gets a new id, so a watch that ended is told apart from
// a later one. Two keys with the same 64-bit hash share a place: a write
// of one ends the other's watches, whose loads then store nothing, as if
// the key had been written.
type Watch struct {
	h  uint64
	id uint64 // 0: no watch
}

// watched is a shard's record of the watches of one key hash: their id,
// and how many have not ended yet.
type watched struct {
	id uint64
	n  int
}

// Watch starts watching key for a reload of the entry described by over
// (from GetInfo), and reports whether it could: not if key's entry is no
// longer that one (a write came between the read and the watch), or the
// engine is closed. The caller ends the watch with SetWatched or Unwatch.
func (e *Engine) Watch(key string, over EntryInfo) (Watch, bool) {
	if over.at == 0 {
		return Watch{}, false
	}
	return e.watchIf(key, func(sh *shard, h uint64) bool {
		l, ok := sh.index.load(h)
		return ok && l.place() == over.at
	})
}

// WatchMiss starts watching key for a load after a lookup that found no
// live value of it, and reports whether it could: not if key has a live
// value now (a write came between the lookup and the watch), or the
// engine is closed. An expired entry, or an absence (SetAbsent), is no
// value. The caller ends the watch with SetWatched, SetAbsentWatched or
// Unwatch.
func (e *Engine) WatchMiss(key string) (Watch, bool) {
	return e.watchIf(key, func(sh *shard, h uint64) bool {
		l, ok := sh.index.load(h)
		if !ok {
			return true
		}
		seg := sh.slots[l.slot()].Load()
		exp, k, _ := seg.Entry(l.off())
		return string(k) != key || exp <= e.clock.Now() || seg.Absent(l.off())
	})
}

// watchIf starts a watch of key if the engine is open and ok, called
// under the lock of key's shard, holds.
func (e *Engine) watchIf(key string, ok func(sh *shard, h uint64) bool) (Watch, bool) {
	if e.closed.Load() {
		return Watch{}, false
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	if !sh.lockOpen() {
		return Watch{}, false
	}
	defer sh.mu.Unlock()
	if !ok(sh, h) {
		return Watch{}, false
	}
	return sh.watch(h), true
}

// watch starts a watch of the key hashed h. Caller holds mu.
func (sh *shard) watch(h uint64) Watch {
	if sh.watches == nil {
		sh.watches = make(map[uint64]watched)
	}
	w, ok := sh.watches[h]
	if !ok {
		sh.watchIDs++
		w.id = sh.watchIDs
	}
	w.n++
	sh.watches[h] = w
	sh.watching = true
	return Watch{h, w.id}
}

// SetWatched stores key as Set does if w, a watch of key, has not been
// ended by a write of key since it began, and reports whether it stored.
// It ends the watch either way.
func (e *Engine) SetWatched(key string, value []byte, ttl time.Duration, w Watch) (bool, error) {
	ttl, ok := e.checkWrite(key, value, ttl)
	if !ok {
		e.Unwatch(w)
		return false, e.refuse(key, value, ttl)
	}
	return e.store(key, value, ttl, fromNow, w, storedValue)
}

// SetAbsentWatched records key's absence as SetAbsent does if w, a watch
// of key, has not been ended by a write of key since it began, and
// reports whether it stored. It ends the watch either way.
func (e *Engine) SetAbsentWatched(key string, ttl time.Duration, w Watch) (bool, error) {
	ttl, ok := e.checkWrite(key, nil, ttl)
	if !ok {
		e.Unwatch(w)
		return false, e.refuse(key, nil, ttl)
	}
	return e.store(key, nil, ttl, fromNow, w, storedAbsence)
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
	if !sh.watching {
		return false
	}
	on, ok := sh.watches[w.h]
	if !ok || on.id != w.id {
		return false
	}
	if on.n--; on.n > 0 {
		sh.watches[w.h] = on
	} else {
		delete(sh.watches, w.h)
		sh.watching = len(sh.watches) > 0
	}
	return true
}

// written ends every watch of the key hashed h: it was written. Caller
// holds mu. Writes check sh.watching, on the line of mu, first: no watch
// is on in nearly every shard at nearly every moment.
func (sh *shard) written(h uint64) {
	delete(sh.watches, h)
	sh.watching = len(sh.watches) > 0
}
