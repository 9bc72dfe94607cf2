package engine

// Reason says why an entry left the cache, for Config.OnRemove.
type Reason uint8

// The reasons an entry leaves the cache.
const (
	Evicted  Reason = iota + 1 // removed to stay within the budget or the entry bound
	Expired                    // its TTL passed and the sweep, or a writer, removed it
	Deleted                    // removed by Delete
	Replaced                   // overwritten by a Set of the same key
)

func (r Reason) String() string {
	switch r {
	case Evicted:
		return "evicted"
	case Expired:
		return "expired"
	case Deleted:
		return "deleted"
	case Replaced:
		return "replaced"
	}
	return "unknown"
}

// A removal is a pending call of Config.OnRemove. A shard collects them
// under its lock and the goroutine that caused them makes the calls after
// unlocking, so a callback may use the cache (even the same shard) and a
// slow one holds up only that goroutine.
type removal struct {
	key    string
	value  []byte
	reason Reason
}

// noteRemoval records that the entry at l leaves for reason, if anyone
// listens and it held a value (an absence is the engine's own record). The key and value are copied: the callback owns them, and does
// not pin the entry's segment by keeping them.
func (sh *shard) noteRemoval(l loc, reason Reason) {
	if sh.e.onRemove == nil {
		return
	}
	seg := sh.slots[l.slot()].Load()
	if seg.Absent(l.off()) {
		return // no value of the user's leaves
	}
	_, k, v := seg.Entry(l.off())
	b := make([]byte, len(k)+len(v))
	copy(b, k)
	copy(b[len(k):], v)
	sh.pending = append(sh.pending, removal{keyString(b[:len(k)]), b[len(k):len(b):len(b)], reason})
}

// lockOpen takes the shard's lock and reports whether the shard is open;
// if it is closed, the lock is released again.
func (sh *shard) lockOpen() bool {
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return false
	}
	return true
}

// unlock serves the Sets waiting for the shard's lock (see combine.go),
// releases it, then reports the removals its holder made (see
// Engine.report): callbacks never run under the lock.
func (sh *shard) unlock() {
	var removed []removal
	if sh.pending != nil {
		removed = sh.takeRemovals()
	}
	if sh.waiting.Load() != nil {
		sh.serveWaiting()
	}
	sh.mu.Unlock()
	if sh.waiting.Load() != nil {
		sh.serveLate()
	}
	if removed != nil {
		sh.e.report(removed)
	}
}

// takeRemovals hands over the removals collected so far. Caller holds mu.
func (sh *shard) takeRemovals() []removal {
	r := sh.pending
	sh.pending = nil
	return r
}

// report calls the OnRemove callback for each removal, in the order they
// happened. Callers hold no lock. A panicking callback is recovered and
// counted (Stats.CallbackPanics), and the removals after it are still
// reported: the callback may run in the engine's own sweep goroutine, or
// in a loader's, where a panic would end the process, and a Set, Delete or
// sweep must not stop halfway through its report because one call failed.
func (e *Engine) report(rs []removal) {
	for _, r := range rs {
		e.reportOne(r)
	}
}

func (e *Engine) reportOne(r removal) {
	defer func() {
		if recover() != nil {
			e.callbackPanics.Add(1)
		}
	}()
	e.onRemove(r.key, r.value, r.reason)
}
