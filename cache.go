// Package velo is an embedded, in-process cache of byte values with TTLs and
// a memory budget, built for services where the cache sits on the hot path.
//
// A Get takes no lock: readers on many cores proceed in parallel while
// writers work on other shards, or on the same one. Writers to one shard
// take turns under its lock; a Set that finds the lock taken hands its
// write to the goroutine holding it, which makes it before letting go,
// and returns once it is made. Keys and values are
// copied into large byte segments rather than kept as separate heap
// objects, so the garbage collector has few pointers to walk however many
// entries the cache holds. Time is read from a coarse clock (one atomic
// load) instead of time.Now.
//
// Quick start:
//
//	c, err := velo.New(velo.Options{MaxBytes: 256 << 20, DefaultTTL: time.Minute})
//	if err != nil { ... }
//	defer c.Close()
//	c.Set("session:42", token, 30*time.Minute)
//	if v, ok := c.Get("session:42"); ok { ... }
//
// What the cache promises:
//
//   - Get returns a copy of the value most recently Set for the key, or a
//     miss; never another key's value (keys are compared, not just their
//     hashes) and never a partly written one.
//   - An entry is not returned once its TTL has passed, measured on a clock
//     that lags real time by about a millisecond. Expired entries leave the
//     index within Options.ExpiryInterval (default one second), or, with
//     [Options.StaleIfError], that long after StaleIfError has passed.
//   - Keys, values and their 16-byte headers are kept within
//     [Options.MaxBytes] (see [Options.MaxBytes] for what else uses memory).
//   - What fits stays: no live entry is evicted for room while the live
//     entries fill less than about 84% of MaxBytes (see
//     [Options.MaxBytes]), however often they are overwritten;
//     MaxEntries N holds N keys; a value up to
//     [Options.MaxValueBytes] is accepted on any machine.
//   - When the budget is full, entries not read since they were written are
//     evicted first, and keys set only once leave before keys seen again.
//     Under MaxEntries, a new key displaces one in the main queue only if a
//     frequency sketch has seen it more often (S3-FIFO with TinyLFU
//     admission, adapted to velo's segments).
//
// A Cache is safe for concurrent use by any number of goroutines. A Set
// synchronizes before any Get that returns the value it stored.
package velo

import (
	"bytes"
	"fmt"
	"iter"
	"math"
	"strings"
	"time"

	"github.com/velocache/velo/clock"
	"github.com/velocache/velo/engine"
)

// Errors returned by the cache. Test for them with errors.Is; the returned
// error says more (the sizes involved, the offending option).
var (
	// ErrTooLarge: the key is longer than 65535 bytes, or than what the
	// largest value and a segment per shard leave of [Options.MaxBytes]
	// where that is less (in small caches, and with large segments or
	// values: never less than a quarter of MaxBytes less 32 bytes;
	// [Cache.MaxEntryBytes] gives the largest entry), or the value is
	// longer than [Options.MaxValueBytes].
	ErrTooLarge = engine.ErrTooLarge
	// ErrClosed: the cache was closed.
	ErrClosed = engine.ErrClosed
	// ErrInvalidTTL: the TTL is negative.
	ErrInvalidTTL = engine.ErrInvalidTTL
	// ErrInvalidOptions: New was given a negative or impossible setting.
	ErrInvalidOptions = engine.ErrInvalidOptions
)

// Options configure a Cache. The zero value is a 64 MiB cache whose entries
// do not expire.
type Options struct {
	// MaxBytes is the memory budget for stored entries: keys, values and
	// a 16-byte header each, padded to 8 bytes, packed into segments.
	// Stats().HeldBytes, the segments held, never exceeds it (between
	// calls; a write may add one segment before it reclaims). 0 means 64
	// MiB; the minimum is 4 KiB.
	//
	// What fits stays: until the live entries (Stats().Bytes) fill 90% of
	// MaxBytes less one segment per shard (about 84% with the default
	// segment size), the cache makes room by compacting, moving the live
	// entries of its emptiest segments forward, never by evicting one.
	// Overwrites, deletes and expiry leave dead bytes behind that this
	// takes back. Above that, it evicts (see the package documentation).
	// The segment per shard is the room not yet written in the segments
	// a shard fills: its head, for new writes, and its cold head, for
	// what compaction keeps, which it empties into the head before it
	// would evict. Entries packed into segments (up to a quarter segment
	// each) also leave each segment's tail unused where the next entry
	// did not fit: entries of a fair part of a segment lower the line by
	// the share they leave unused (a fifth for entries just over a fifth
	// of a segment).
	//
	// Not counted: the index (16-byte slots, built 3/5 full and grown at
	// 3/4 full: 21 to 27 bytes per entry, up to 32 just before a rebuild,
	// twice that while one runs, up to 64 after mass deletes until it
	// shrinks, once under 1/4 full for as many inserts as it has slots),
	// the frequency sketch under MaxEntries (8 to 16 bytes per entry,
	// growing with the entries up to MaxEntries), and the
	// pool of released segments, up to a sixteenth of MaxBytes more (at
	// least two segments per shard): a released segment is reused once no
	// read that could hold it is still in progress, which the cache counts
	// itself, without the garbage collector, so a steady stream of Sets
	// over a steady set of keys allocates nothing and makes the collector
	// no work, TTL'd keys that the sweep removes and that come back
	// included. Two streams do allocate, index tables: a Clear makes a new
	// table of the old one's size (about 25 bytes per Set in cycles of
	// 40,000 Sets and a Clear), and new keys with deletes of old ones leave
	// tombstones that rebuilds clear into new tables (about 55 bytes per
	// Set with 1,000 keys live). A [Cache.View]
	// callback that runs long holds that reuse back; writes meanwhile
	// allocate segments as ordinary garbage. Values too large to pack
	// (above a quarter of a segment) get a segment each, counted as the
	// Go allocator sizes it (its size class, or whole pages: up to a
	// quarter more than the entry just above 32 KiB), which the
	// collector frees; those waiting for it may take up to half of
	// MaxBytes more (at least 4 MiB), and when they reach that and the
	// program's own collections have not freed them, the cache runs one
	// itself, spaced out in a program whose heap is large enough that they
	// would take more than a quarter of the processor time.
	// [Stats].ForcedGCs counts them. Free segments that the pool drops to
	// make room for large ones wait for a collection too, uncounted.
	MaxBytes int64

	// MaxEntries, if positive, also bounds the number of entries: N
	// distinct keys set into a cache of MaxEntries N are all kept (while
	// they fit MaxBytes). A Set of a new key beyond it evicts one entry.
	// Expired entries count until the sweep removes them (within
	// ExpiryInterval), as they do in Len: a Set at the bound evicts in its
	// own shard, which may take a live entry while another shard still
	// holds expired ones. A Set into a shard that holds no other entry
	// (with a bound of a few entries per shard, some shards are empty)
	// evicts in another shard, and keeps the new key, unless every such
	// shard is busy with a write at that moment. Concurrent Sets of new
	// keys at the bound may each evict one, so the cache can hold a few
	// entries fewer than the bound for a while. A
	// bound above MaxBytes/16 (no entry is smaller than its 16-byte
	// header) cannot bind, and is taken as MaxBytes/16: nothing is
	// allocated in proportion to it beyond what MaxBytes can hold.
	//
	// MaxEntries also runs the scan-resistant eviction policy (S3-FIFO
	// with TinyLFU admission). Bounded by MaxBytes alone, the cache
	// evicts by segments, keeping entries read since they were written,
	// which on workloads with scans and loops hits about as often as LRU
	// (docs/hit-ratio.md): set MaxEntries, to an estimate of the entries
	// the budget holds, where hit ratio matters.
	MaxEntries int

	// DefaultTTL is the lifetime of an entry stored with ttl 0. 0 means
	// such entries do not expire.
	DefaultTTL time.Duration

	// Shards is the number of independently locked parts (a power of two,
	// at most 4096). Writers to different shards never wait for each
	// other; readers never wait at all. 0 picks 4 x GOMAXPROCS (at most
	// 256), raised for budgets above 2.6 GiB a shard (so that shards'
	// segments stay at most 4 MiB), then reduced so that each shard keeps
	// at least 256 KiB (1 MiB / GOMAXPROCS above 4, at least 64 KiB; and
	// 256 entries under MaxEntries) but never below what the budget
	// needs: a shard holds at most about 10.6 GiB. Where most operations
	// are writes, on many cores, more shards pay: on 16 cores, 128 shards
	// of a 4 MiB budget (4 and 2 times the default at 8 and 16 cores) ran
	// mixes of 75% and 100% Sets of Zipf keys 1.09x to 1.22x faster, but
	// shards below 64 KiB cost 0.6 to 2.6 points of hit ratio
	// (docs/benchmarks.md, "Combining Sets").
	Shards int

	// SegmentBytes is the size of the segments entries are packed into.
	// Entries (16 + len(key) + len(value), rounded up to a multiple of 8)
	// larger than a quarter of it get a segment of their own. Each shard's
	// share of MaxBytes must hold at least two segments. 0 picks a
	// sixteenth of a shard's budget, between 4 KiB and 4 MiB, but at most
	// half of it (a 4 KiB cache has 2 KiB segments), and doubled, up to
	// 16 MiB, for a shard's budget above 682 segments. The cache keeps
	// about 450 bytes of bookkeeping per segment of the budget, and one to
	// ten kilobytes per shard: New refuses Shards and SegmentBytes so small
	// for MaxBytes that these come to more than MaxBytes (or 1 MiB, in a
	// smaller cache).
	SegmentBytes int

	// MaxValueBytes is the longest value the cache accepts; longer ones
	// get [ErrTooLarge]. 0 means MaxBytes/64, at least 4 KiB (but at most
	// a quarter of MaxBytes) and at most 16 MiB: a 64 MiB cache takes a 1
	// MiB value on any machine. With SegmentBytes set by hand, 0 means at
	// least SegmentBytes less the 16-byte header (but at most a quarter of
	// MaxBytes): a value that fills a segment. It may be set up to
	// MaxBytes/4 or 1 GiB.
	MaxValueBytes int

	// ExpiryInterval is how often a background goroutine removes expired
	// entries. 0 means one second; the minimum is a millisecond.
	ExpiryInterval time.Duration

	// OnRemove, if set, is called once for every entry that leaves the
	// cache, with the reason: Evicted (for room), Expired (removed by the
	// expiry sweep, or found expired by a write), Deleted or Replaced.
	// Clear and Close remove entries without calling it.
	//
	// The callback gets its own copy of key and value, which it may keep
	// or modify. It is never called by Get, AppendValue or Has: it runs
	// in the goroutine of the Set, Delete or sweep that removed the
	// entry, after that call released its locks, so it may use the cache.
	// It delays only that call (a Set that evicts a whole segment reports
	// each of its entries before returning). Removals made by one call
	// are reported in the order they happened; removals made by
	// concurrent calls, even of the same key, may be reported in either
	// order.
	OnRemove func(key string, value []byte, reason Reason)

	// Deprecated: OnEvict is OnRemove's former name: it is called for
	// every reason, not only evictions. It is used when OnRemove is nil;
	// setting both is an error.
	OnEvict func(key string, value []byte, reason Reason)

	// RefreshAhead, in [0, 1), makes GetOrLoad reload an entry in
	// the background when it is hit within this fraction of its TTL of
	// expiring: 0.2 with a one-minute TTL reloads on the first hit in the
	// last 12 seconds, while hits go on returning the current value. 0
	// turns refresh off.
	RefreshAhead float64

	// StaleIfError, if positive, keeps each entry for this long after it
	// expires, unseen by Get and the other lookups, so that GetOrLoad can
	// serve it when reloading it fails: the caller gets the last value
	// with a *StaleError (see [ErrStale]) instead of the load's error, for
	// at most StaleIfError past the value's expiry. Kept entries count in
	// Len and the budget, and are evicted before live ones. 0 turns it
	// off.
	StaleIfError time.Duration

	// StaleRetry is how often, at most, GetOrLoad reloads a key whose
	// reload failed while it serves the key's stale value: calls in
	// between get the stale value and the last error at once, so a
	// failing origin sees one call per key per StaleRetry. 0 means one
	// second.
	StaleRetry time.Duration

	// Clock, if set, is the time source for TTLs instead of the shared
	// coarse clock: tests pass clock.NewManual and move time by hand
	// rather than sleeping (see the example of [Options.Clock]), or a fake
	// clock of their own. The cache never releases it.
	Clock Clock
}

// A Clock tells a cache the time: nanoseconds on a monotonic scale of its
// own, of which only differences matter. Now must be safe for concurrent
// use and never go backwards. The clock package's clocks, its manual
// clock included, are Clocks; the cache reads those with one atomic load,
// and any other with a call of its Now.
type Clock interface {
	Now() int64
}

// Reason says why an entry left the cache; see [Options.OnRemove].
type Reason = engine.Reason

// The reasons passed to [Options.OnRemove].
const (
	Evicted  = engine.Evicted  // removed to stay within MaxBytes or MaxEntries
	Expired  = engine.Expired  // its TTL passed
	Deleted  = engine.Deleted  // removed by Delete
	Replaced = engine.Replaced // overwritten by Set
)

// Cache is an in-memory cache of byte values. Create one with New and stop
// its background goroutine with Close.
type Cache struct {
	e            *engine.Engine
	refreshAhead float64
	staleIfError time.Duration
	loads        loader       // GetOrLoad's calls in flight and refreshes
	stale        staleRetries // keys whose reload failed, serving stale values
}

// New returns a cache configured by opts, or an error wrapping
// [ErrInvalidOptions] that names the offending setting.
func New(opts Options) (*Cache, error) {
	switch {
	case opts.StaleIfError < 0:
		return nil, fmt.Errorf("%w: StaleIfError %v is negative", ErrInvalidOptions, opts.StaleIfError)
	case opts.StaleRetry < 0:
		return nil, fmt.Errorf("%w: StaleRetry %v is negative", ErrInvalidOptions, opts.StaleRetry)
	case opts.StaleRetry == 0:
		opts.StaleRetry = time.Second
	}
	if r := opts.RefreshAhead; !(r >= 0 && r < 1) || math.IsNaN(r) {
		return nil, fmt.Errorf("%w: RefreshAhead %v is not in [0, 1)", ErrInvalidOptions, r)
	}
	var cfg engine.Config
	cfg.OnRemove = opts.OnRemove
	if opts.OnEvict != nil {
		if opts.OnRemove != nil {
			return nil, fmt.Errorf("%w: OnEvict (deprecated) and OnRemove are both set", ErrInvalidOptions)
		}
		cfg.OnRemove = opts.OnEvict
	}
	cfg.MaxBytes = opts.MaxBytes
	cfg.MaxEntries = opts.MaxEntries
	cfg.DefaultTTL = opts.DefaultTTL
	cfg.Shards = opts.Shards
	cfg.SegmentBytes = opts.SegmentBytes
	cfg.MaxValueBytes = opts.MaxValueBytes
	cfg.ExpiryInterval = opts.ExpiryInterval
	cfg.KeepExpired = opts.StaleIfError
	switch clk := opts.Clock.(type) {
	case nil:
	case *clock.Clock:
		if clk == nil {
			return nil, fmt.Errorf("%w: Clock is a nil *clock.Clock", ErrInvalidOptions)
		}
		cfg.Clock = clk
	default:
		cfg.Clock = clock.Func(clk.Now)
	}
	e, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	c := &Cache{e: e, refreshAhead: opts.RefreshAhead, staleIfError: opts.StaleIfError}
	c.loads.init()
	c.stale.init(opts.StaleRetry)
	return c, nil
}

// Set stores a copy of value under key; the caller may reuse value
// afterwards. ttl 0 means [Options.DefaultTTL]; a TTL too large to represent
// (centuries) means the entry does not expire.
//
// Set returns [ErrInvalidTTL] for a negative ttl, [ErrTooLarge] for a key
// or value too long (see ErrTooLarge) and [ErrClosed] after Close; in each case the
// value already stored under key, if any, is left as it was. The empty key
// and the empty value are ordinary data.
func (c *Cache) Set(key string, value []byte, ttl time.Duration) error {
	return c.e.Set(key, value, ttl)
}

// Get returns a copy of the value stored under key, which the caller owns,
// and whether it was found. An expired entry is a miss; after Close every
// Get misses.
func (c *Cache) Get(key string) ([]byte, bool) {
	return c.e.Get(key)
}

// AppendValue appends the value stored under key to dst and returns the
// extended slice, and whether the key was found (dst is returned unchanged
// on a miss). It does not allocate when dst has room for the value.
func (c *Cache) AppendValue(dst []byte, key string) ([]byte, bool) {
	return c.e.AppendValue(dst, key)
}

// View calls fn with the value stored under key, without copying it, and
// reports whether the key was found (fn is not called on a miss). It
// counts a hit or miss as Get does.
//
// value is the cache's own memory: fn must not modify it, and must not
// keep it, or any slice of it, after it returns: the memory is reused for
// other entries once fn has returned. Within fn it never changes, even if
// the key is overwritten or evicted meanwhile: while fn runs, the cache
// reuses no memory that a read in progress could hold, so keep fn short
// (a long fn makes writes meanwhile allocate; see [Options.MaxBytes]).
// View suits consumers that read the bytes once, such as writing them to
// a network connection or decoding them; AppendValue is the safe choice
// otherwise.
func (c *Cache) View(key string, fn func(value []byte)) bool {
	return c.e.View(key, fn)
}

// Has reports whether key is stored and unexpired, without copying its
// value or counting a hit or miss.
func (c *Cache) Has(key string) bool { return c.e.Has(key) }

// Delete removes key and reports whether it was present (an expired entry
// was not).
func (c *Cache) Delete(key string) bool { return c.e.Delete(key) }

// Len returns the number of entries stored, including expired entries the
// background sweep has not removed yet (or keeps for
// [Options.StaleIfError]) and the absences [Cache.GetOrLoad] caches (see
// [ErrNotFound]). Under [Options.MaxEntries] it exceeds the bound, while
// Sets run, by at most the Sets in progress.
func (c *Cache) Len() int { return c.e.Len() }

// MaxEntryBytes returns the largest entry the cache accepts: 16 bytes of
// header plus the longest key plus the longest value, rounded up to a
// multiple of 8.
func (c *Cache) MaxEntryBytes() int { return c.e.MaxEntryBytes() }

// MaxValueBytes returns the longest value the cache accepts (see
// [Options.MaxValueBytes]).
func (c *Cache) MaxValueBytes() int { return c.e.MaxValueBytes() }

// Stats is a snapshot of a cache's counters since New.
type Stats struct {
	Hits        uint64 // Get, AppendValue, View and GetOrLoad calls that found their key
	Misses      uint64 // ... that did not
	Sets        uint64 // values stored: by Set, GetOrLoad (loads and refreshes) and LoadFrom
	Rejected    uint64 // Sets and GetOrLoad stores refused with ErrTooLarge
	Deletes     uint64 // Delete calls that removed a present key
	Evictions   uint64 // entries removed to stay within the budget
	Expirations uint64 // expired entries removed: by the sweep, or found expired by a Set, Delete or eviction
	Entries     int    // entries stored now (as Len)
	Bytes       int64  // bytes of the entries stored now: key, value and a 16-byte header each, rounded up to 8

	// HeldBytes is the memory of the segments that hold the entries, at
	// most [Options.MaxBytes] (a large entry's segment counted as the Go
	// allocator sizes it: its size class, or whole pages); HeldBytes -
	// Bytes is room not yet reclaimed from overwritten, deleted and
	// expired entries, and the allocator's rounding of large entries.
	HeldBytes int64
	// SetBytes counts the bytes of the entries that Sets counts;
	// MovedBytes, those the cache copied again to keep them while it
	// reclaimed their segments. (SetBytes + MovedBytes) / SetBytes is the
	// write amplification.
	SetBytes, MovedBytes int64

	Loads      uint64 // load functions GetOrLoad ran, refreshes included
	LoadErrors uint64 // ... that returned an error or a negative TTL, panicked or called runtime.Goexit
	Refreshes  uint64 // background refreshes started (RefreshAhead)
	// StaleServed counts GetOrLoad calls that returned a value past its
	// expiry, with a *StaleError, because reloading it failed (see
	// [Options.StaleIfError]).
	StaleServed uint64
	// NegativeHits counts GetOrLoad calls answered with [ErrNotFound] by a
	// cached absence, without a load (see [ErrNotFound]); their lookups
	// count among the Misses too.
	NegativeHits uint64

	// CallbackPanics counts the calls of [Options.OnRemove] that panicked.
	// Each panic is recovered where the callback ran, and the removals
	// after it are still reported.
	CallbackPanics uint64

	// ForcedGCs counts the garbage collections the cache ran itself, to
	// free the segments of large values (or of writes made while a View
	// callback held segments back) when the program's own collections had
	// not (see [Options.MaxBytes]). Each marks the whole heap: in a
	// program with a large one, a high rate is a cost worth watching.
	ForcedGCs uint64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any lookup.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Stats returns the cache's counters. It locks each shard briefly; call it
// for monitoring, not on every request.
func (c *Cache) Stats() Stats {
	s := c.e.Stats()
	return Stats{
		Hits:        s.Hits,
		Misses:      s.Misses,
		Sets:        s.Sets,
		Rejected:    s.Rejected,
		Deletes:     s.Deletes,
		Evictions:   s.Evictions,
		Expirations: s.Expirations,
		Entries:     s.Entries,
		Bytes:       s.LiveBytes,
		HeldBytes:   s.HeldBytes,
		SetBytes:    s.SetBytes,
		MovedBytes:  s.MovedBytes,
		Loads:       c.loads.loads.Load(),
		LoadErrors:  c.loads.loadErrors.Load(),
		Refreshes:   c.loads.refreshes.Load(),

		NegativeHits: c.loads.negativeHits.Load(),
		StaleServed:  c.loads.staleServed.Load(),

		CallbackPanics: s.CallbackPanics,
		ForcedGCs:      s.ForcedGCs,
	}
}

// TTL returns how long the entry under key has left to live, and whether
// it is present and unexpired; an entry that does not expire has a TTL of
// 0. It counts no hit or miss. The result is measured on the cache's
// coarse clock, so it may be up to a millisecond long.
func (c *Cache) TTL(key string) (time.Duration, bool) {
	info, ok := c.e.Info(key)
	if !ok {
		return 0, false
	}
	if info.ExpireAt == math.MaxInt64 {
		return 0, true
	}
	// The clock may have moved on since Info found the entry alive: an
	// entry that expired in between is absent, not alive with a negative
	// TTL.
	left := time.Duration(info.ExpireAt - c.e.Now())
	if left <= 0 {
		return 0, false
	}
	return left, true
}

// Clear removes every entry at once, without walking them: its cost grows
// with the number of segments, not entries. OnRemove is not called. Entries
// Set while Clear runs may survive it. Counters in Stats carry on, except
// Entries and Bytes.
func (c *Cache) Clear() { c.e.Clear() }

// All returns an iterator over the live, unexpired entries, in no
// particular order. Each value is the caller's own copy.
//
// The iteration is weakly consistent: no lock is held while the loop body
// runs, so the cache serves traffic and the body may use it. Each key is
// yielded at most once, with a value it held at some point during the
// iteration, never a torn one. Entries that stay in the cache unchanged
// for the whole iteration are all yielded, except those that eviction or
// compaction moved in memory meanwhile; entries written during the
// iteration may or may not be.
func (c *Cache) All() iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		c.e.Range(func(key string, value []byte, _ engine.EntryInfo) bool {
			// Copies, so that neither pins the segment they came from.
			return yield(strings.Clone(key), bytes.Clone(value))
		})
	}
}

// Keys returns an iterator over the keys of the live, unexpired entries,
// with the consistency of All.
func (c *Cache) Keys() iter.Seq[string] {
	return func(yield func(string) bool) {
		c.e.Range(func(key string, _ []byte, _ engine.EntryInfo) bool {
			return yield(strings.Clone(key))
		})
	}
}

// Close stops the cache's background goroutines (the expiry sweep, and
// GetOrLoad's loads and background refreshes in flight, whose contexts it
// cancels and which it waits for), releases the shared clock and drops
// every entry. Afterwards Set returns [ErrClosed] and Get misses. Close is
// safe to call more than once, from any goroutine, and always returns nil.
//
// Close may be called from an OnRemove callback or a load function. Called
// from one of the cache's own goroutines (the expiry sweep, which calls
// OnRemove for the entries it finds expired, or a load, which calls the
// load function and OnRemove for what its Set removes), it stops the cache
// and returns without waiting for any of them: each may be waiting for
// the caller (the sweep's callback for a load, a load for the sweep to
// end), so waiting could wait forever. They end on their own once the
// callbacks and load functions they are in return, and a Close from any
// other goroutine waits for them.
func (c *Cache) Close() error {
	if c.e.InSweep() || c.loads.onOwnLoad() {
		c.loads.stop()
		c.e.Stop()
		return nil
	}
	c.loads.close()
	return c.e.Close()
}
