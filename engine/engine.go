// Package engine is velo's concurrent core: a sharded, log-structured store
// of entries in arena segments, indexed by key hash, with lock-free reads.
//
// Each shard owns a table of segments, a hash index and a mutex. Writers
// (Set, Delete, eviction, expiry) take the shard's mutex; readers take
// nothing. Every entry ever published is immutable and lives in a segment
// that is never rewritten, so a reader that found a location can copy the
// value with plain loads while writers carry on; docs/design.md gives the
// whole argument.
//
// Memory: the shards' segments together hold at most MaxBytes. When a
// shard's newest segment (the head) is full, it allocates a new head and,
// if that puts the engine over budget, reclaims: while the live entries
// fill less than 90% of the budget, it compacts (moves the live entries of
// its segment with the most dead bytes to a cold head, a segment of their
// own apart from new writes: see cold.go), so nothing stored is
// lost to overwrites; above that, the oldest segment is retired: entries
// read since they were written move to the new head, the rest are evicted
// (reclaim.go). New keys and keys seen before are kept in two queues, with
// a frequency sketch to admit keys to the main one (S3-FIFO with TinyLFU
// admission; see evictOne). Expired entries are removed by a background
// sweep. Entries larger than a quarter of a segment get a segment each,
// so the largest value depends on the options only (MaxValueBytes).
//
// Who imports it: package velo, which wraps it for users; its exported
// API is what velo uses, and changes with it. Programs import
// github.com/velocache/velo. What only tests need (a forced hash, a sweep
// on demand) is unexported, for this package's own tests.
package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

// Errors returned by the engine; the velo package re-exports them.
var (
	ErrTooLarge       = errors.New("velo: entry too large")
	ErrClosed         = errors.New("velo: cache closed")
	ErrInvalidTTL     = errors.New("velo: invalid TTL")
	ErrInvalidOptions = errors.New("velo: invalid options")
)

// Defaults and limits of a Config.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultExpiryInterval = time.Second
	MinMaxBytes           = 4 << 10
	MaxShards             = 1 << 12
	// MinExpiryInterval is the shortest sweep period: each sweep locks
	// every shard, so a shorter one would cost an idle cache a core.
	MinExpiryInterval = time.Millisecond
	// MaxValueLimit is the largest MaxValueBytes.
	MaxValueLimit = 1 << 30
	// maxPackedBytes is the largest segment entries are packed into: a
	// location holds offsets below it.
	maxPackedBytes = 1 << 24
	// maxShardSegs bounds a shard's share of the budget in segments: its
	// table of slots has room for six times that (see slotsFor).
	maxShardSegs = (maxSlots - 4) / 6
	// maxSegments bounds the segments of all shards together. Each costs
	// about 60 bytes of bookkeeping allocated by New, before anything is
	// stored.
	maxSegments = 1 << 20

	maxDefaultShards = 256
	minShardEntries  = 256 // default sharding keeps, with MaxEntries, this many entries a shard
	segmentsPerShard = 16  // default segment size is a shard's budget / this
	// maxDefaultSegBytes caps the default segment size. Larger segments
	// mean fewer heap objects, so a GC cycle that costs less with many
	// entries (each segment is a span the collector visits); smaller ones
	// bound the stall of a write that retires a segment, which walks it
	// under the shard's lock (docs/memory.md measures both).
	maxDefaultSegBytes = 4 << 20
	minDefaultSegBytes = 4 << 10
)

// minShardBytes is the smallest share of the budget that default sharding
// gives a shard on procs processors: 256 KiB up to 4 processors, 1 MiB /
// procs above, but at least 64 KiB (from 16 on). Small shards cost a Set
// on few cores: each shard appends to a head of its own, and the more
// heads take writes in turn, the fewer of the lines they append to the
// processor has prefetched. On many cores the cost that dominates is that
// of writes waiting for a shard's lock and for the lines its last writer
// touched, and a small budget split into more shards spreads the hot keys
// over more locks (docs/benchmarks.md, "On 16 cores").
func minShardBytes(procs int) int64 {
	return min(max(1<<20/int64(procs), 64<<10), 256<<10)
}

// Config says what an Engine holds. Zero fields take defaults; negative
// ones are errors.
type Config struct {
	MaxBytes       int64
	MaxEntries     int
	DefaultTTL     time.Duration
	Shards         int           // a power of two; 0 = from GOMAXPROCS and the budget
	SegmentBytes   int           // 0 = the shard's budget / 16, between 4 KiB and 4 MiB
	MaxValueBytes  int           // 0 = MaxBytes/64 (at least 4 KiB, at most 16 MiB and MaxBytes/4)
	ExpiryInterval time.Duration // how often expired entries are swept; 0 = 1s

	// KeepExpired is how long an entry stays stored after it expires:
	// value lookups miss it from its expiry on, but GetStale returns it
	// until then (a stale-if-error window). The sweep removes it only
	// after that; eviction removes it first, as an expired entry.
	KeepExpired time.Duration

	// Clock, if set, replaces the shared coarse clock (tests pass a manual
	// one). The engine does not release it.
	Clock *clock.Clock
	// hash, if set by a test of this package, replaces the seeded key
	// hash, to force collisions.
	hash func(string) uint64

	// OnRemove, if set, is called once for every entry that leaves the
	// cache, except through Clear and Close, with a copy of its key and
	// value that the callback owns. It runs in the goroutine whose call
	// caused the removal (a Set that evicted, a Delete, the expiry
	// sweep), after that call has released every lock, so it may use the
	// engine. Removals caused by one call are reported in order; those
	// caused by concurrent calls may interleave.
	OnRemove func(key string, value []byte, reason Reason)
}

// An Engine is a concurrent cache of byte values. All methods are safe for
// concurrent use.
type Engine struct {
	shards     []shard
	shift      uint // a hash's shard is h >> shift
	segBytes   int
	largeFrom  int // entries larger than this get a segment each (see addLarge)
	maxKey     int // the longest key (see maxKeyLen)
	maxValue   int
	maxBytes   int64
	keepLimit  int64 // live bytes below which reclaiming compacts (see reclaim.go)
	maxEntries int64 // 0: no bound
	defaultTTL time.Duration
	keep       int64 // Config.KeepExpired, in clock nanoseconds
	clock      *clock.Clock
	ownClock   bool
	hasher     keyHasher           // random per engine: see hashOf
	testHash   func(string) uint64 // Config.hash; nil for the seeded hash
	onRemove   func(string, []byte, Reason)
	wait       waitSchedule // for Sets that find their shard's lock taken

	// callbackPanics counts the panics of onRemove that report recovered;
	// rejected, the writes check refused as too large.
	callbackPanics, rejected atomic.Uint64

	// held is the bytes of the segments all shards hold, which MaxBytes
	// bounds; entries, the live entries of all shards, kept only under
	// MaxEntries (one shared counter, written by inserts and removals,
	// not overwrites or reads). births numbers segments in the order they
	// were installed, for retiring the engine's oldest (reclaim.go).
	// Each is on a line of its own: shards write them at different rates.
	_       [64]byte
	held    atomic.Int64
	_       [56]byte
	entries atomic.Int64
	_       [56]byte
	births  atomic.Uint64
	_       [56]byte

	// readers tracks the reads in progress, for reusing released
	// segments, and counts their hits; misses counts the misses. Both are
	// striped, to keep goroutines on different cores off each other's
	// cache lines.
	readers *readers
	misses  counter

	pool segPool // recycles packed segments

	// sweepMu serializes sweeps (the background one and a test's sweepExpired),
	// which share sweepSlots, the list of a shard's segments a sweep
	// walks: reused, so that an idle cache's sweep allocates nothing.
	sweepMu    sync.Mutex
	sweepSlots []int

	// closed is set by the first Close, before anything else it does;
	// every entry point checks it. stop is closed by that Close, and done
	// by the sweep goroutine when it has returned (see Close).
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	// sweeper is the id of the goroutine running sweepLoop (GoroutineID).
	sweeper atomic.Uint64
	// firstExpire is at most every shard's firstExpire: no live entry
	// expires before it. Appends lower it; the sweep raises it to the
	// shards' least. Evicting writers look in other shards for expired
	// entries (dropExpiredElsewhere) only once it has passed, so that a
	// cache whose entries do not expire never pays for the look.
	firstExpire atomic.Int64
}

// New validates cfg, fills in defaults and starts the engine's background
// sweep (and, unless cfg.Clock is set, takes the shared coarse clock).
func New(cfg Config) (*Engine, error) {
	if err := resolve(&cfg); err != nil {
		return nil, err
	}
	e := &Engine{
		shards:     make([]shard, cfg.Shards),
		shift:      uint(64 - bits.TrailingZeros(uint(cfg.Shards))),
		segBytes:   cfg.SegmentBytes,
		largeFrom:  cfg.SegmentBytes / 4,
		maxKey:     maxKeyLen(cfg),
		maxValue:   cfg.MaxValueBytes,
		maxBytes:   cfg.MaxBytes,
		maxEntries: int64(cfg.MaxEntries),
		defaultTTL: cfg.DefaultTTL,
		keep:       int64(cfg.KeepExpired),
		clock:      cfg.Clock,
		hasher:     newKeyHasher(),
		testHash:   cfg.hash,
		onRemove:   cfg.OnRemove,
		wait:       waitScheduleFor(runtime.GOMAXPROCS(0), runtime.NumCPU()),
		readers:    newReaders(counterStripes * runtime.GOMAXPROCS(0)),
		misses:     newCounter(counterStripes * runtime.GOMAXPROCS(0)),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	share := cfg.MaxBytes / int64(cfg.Shards)
	e.keepLimit = (cfg.MaxBytes - int64(cfg.Shards)*int64(cfg.SegmentBytes)) / 100 * keepShare
	maxEntries := 0
	if cfg.MaxEntries > 0 {
		maxEntries = (cfg.MaxEntries + cfg.Shards - 1) / cfg.Shards
	}
	e.pool.init(cfg.SegmentBytes, int(cfg.MaxBytes/int64(cfg.SegmentBytes)), cfg.Shards)
	e.pool.readers = e.readers
	e.firstExpire.Store(arena.Never)
	for i := range e.shards {
		e.shards[i].init(e, share, slotsFor(share, cfg.SegmentBytes), maxEntries)
	}
	if e.clock == nil {
		e.clock = clock.Acquire()
		e.ownClock = true
	}
	go e.sweepLoop(cfg.ExpiryInterval)
	return e, nil
}

// resolve checks cfg and replaces zero fields with defaults.
func resolve(cfg *Config) error {
	switch {
	case cfg.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidOptions, cfg.MaxBytes)
	case cfg.MaxEntries < 0:
		return fmt.Errorf("%w: MaxEntries %d is negative", ErrInvalidOptions, cfg.MaxEntries)
	case cfg.DefaultTTL < 0:
		return fmt.Errorf("%w: DefaultTTL %v is negative", ErrInvalidOptions, cfg.DefaultTTL)
	case cfg.Shards < 0 || cfg.Shards > MaxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return fmt.Errorf("%w: Shards %d is not a power of two between 1 and %d", ErrInvalidOptions, cfg.Shards, MaxShards)
	case cfg.SegmentBytes < 0 || cfg.SegmentBytes > maxPackedBytes:
		return fmt.Errorf("%w: SegmentBytes %d is not between 0 and %d", ErrInvalidOptions, cfg.SegmentBytes, maxPackedBytes)
	case cfg.MaxValueBytes < 0 || cfg.MaxValueBytes > MaxValueLimit:
		return fmt.Errorf("%w: MaxValueBytes %d is not between 0 and %d", ErrInvalidOptions, cfg.MaxValueBytes, MaxValueLimit)
	case cfg.KeepExpired < 0:
		return fmt.Errorf("%w: KeepExpired %v is negative", ErrInvalidOptions, cfg.KeepExpired)
	case cfg.ExpiryInterval < 0:
		return fmt.Errorf("%w: ExpiryInterval %v is negative", ErrInvalidOptions, cfg.ExpiryInterval)
	case cfg.ExpiryInterval > 0 && cfg.ExpiryInterval < MinExpiryInterval:
		return fmt.Errorf("%w: ExpiryInterval %v is below the minimum of %v", ErrInvalidOptions, cfg.ExpiryInterval, MinExpiryInterval)
	}
	explicitSeg := cfg.SegmentBytes
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBytes < MinMaxBytes {
		return fmt.Errorf("%w: MaxBytes %d is below the minimum of %d", ErrInvalidOptions, cfg.MaxBytes, MinMaxBytes)
	}
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = DefaultExpiryInterval
	}
	// No entry is smaller than a header, so no more than this many fit:
	// a larger bound could never bind, and sizing anything by it (the
	// frequency sketch) would allocate for entries that cannot exist.
	cfg.MaxEntries = int(min(int64(cfg.MaxEntries), cfg.MaxBytes/arena.HeaderSize))
	if cfg.Shards == 0 {
		procs := runtime.GOMAXPROCS(0)
		n := 1
		for n < 4*procs && n < maxDefaultShards {
			n *= 2
		}
		for cfg.MaxBytes/int64(n) > maxShardSegs*maxDefaultSegBytes && n < MaxShards {
			n *= 2
		}
		// The fewest shards whose shares each fit in maxShardSegs
		// segments, as large as segments may be: fewer entries than
		// minShardEntries a shard are better than a budget refused.
		fewest, largest := 1, int64(cmp.Or(cfg.SegmentBytes, maxPackedBytes))
		for cfg.MaxBytes/int64(fewest) > maxShardSegs*largest && fewest < MaxShards {
			fewest *= 2
		}
		floor := minShardBytes(procs)
		for n > fewest && (cfg.MaxBytes/int64(n) < floor ||
			cfg.MaxBytes/int64(n) < 2*int64(cfg.SegmentBytes) ||
			cfg.MaxEntries > 0 && cfg.MaxEntries/n < minShardEntries) {
			n /= 2
		}
		cfg.Shards = n
	}
	shardBytes := cfg.MaxBytes / int64(cfg.Shards)
	if cfg.SegmentBytes == 0 {
		s := shardBytes / segmentsPerShard
		s = min(max(s, minDefaultSegBytes), maxDefaultSegBytes)
		// A shard needs at least two segments: one filling, one to retire.
		s = min(s, shardBytes/2)
		if s < arena.HeaderSize {
			return fmt.Errorf("%w: MaxBytes %d over %d shards leaves %d bytes a shard, too few for two segments",
				ErrInvalidOptions, cfg.MaxBytes, cfg.Shards, shardBytes)
		}
		// Large budgets need larger segments to stay within the slot count.
		for shardBytes/s > maxShardSegs && s < maxPackedBytes {
			s *= 2
		}
		cfg.SegmentBytes = int(s)
	}
	if n := shardBytes / int64(cfg.SegmentBytes); n < 2 || n > maxShardSegs {
		return fmt.Errorf("%w: MaxBytes %d over %d shards gives %d segments of %d bytes (SegmentBytes) each; need 2 to %d",
			ErrInvalidOptions, cfg.MaxBytes, cfg.Shards, n, cfg.SegmentBytes, maxShardSegs)
	}
	if cfg.SegmentBytes < arena.HeaderSize {
		return fmt.Errorf("%w: SegmentBytes %d cannot hold an entry", ErrInvalidOptions, cfg.SegmentBytes)
	}
	if n := cfg.MaxBytes / int64(cfg.SegmentBytes); n > maxSegments {
		return fmt.Errorf("%w: MaxBytes %d in segments of %d bytes (SegmentBytes) makes %d segments; the limit is %d",
			ErrInvalidOptions, cfg.MaxBytes, cfg.SegmentBytes, n, maxSegments)
	}
	if n := bookkeeping(*cfg); n > max(cfg.MaxBytes, maxBookkeepingFloor) {
		return fmt.Errorf("%w: %d shards (Shards) with segments of %d bytes (SegmentBytes) take %d bytes of bookkeeping, more than MaxBytes %d: use fewer shards or larger segments",
			ErrInvalidOptions, cfg.Shards, cfg.SegmentBytes, n, cfg.MaxBytes)
	}
	if cfg.MaxValueBytes > int(cfg.MaxBytes/4) {
		return fmt.Errorf("%w: MaxValueBytes %d is over a quarter of MaxBytes %d", ErrInvalidOptions, cfg.MaxValueBytes, cfg.MaxBytes)
	}
	if cfg.MaxValueBytes == 0 {
		// A segment size set by hand is a promise of values that fit one.
		cfg.MaxValueBytes = max(defaultMaxValue(cfg.MaxBytes), min(explicitSeg-arena.HeaderSize, int(cfg.MaxBytes/4)))
	}
	return nil
}

// maxBookkeepingFloor is the bookkeeping New allows whatever the budget:
// a tiny budget's own few kilobytes of it are no concern.
const maxBookkeepingFloor = 1 << 20

// bookkeeping is about what New allocates for an engine of cfg (resolved)
// besides the segments: each shard's fields, first index table and first
// frequency sketch, and the per-slot tables (slots, meta, gens, free), of
// six slots per segment of the shard's share. Shards or segments small
// for the budget make it larger than the budget itself: New refuses
// those, as no cache should cost far beyond MaxBytes before it stores
// anything.
func bookkeeping(cfg Config) int64 {
	const perSlot = int64(unsafe.Sizeof(atomic.Pointer[arena.Segment]{}) + unsafe.Sizeof(segMeta{}) + unsafe.Sizeof(uint32(0)) + unsafe.Sizeof(0))
	perShard := int64(unsafe.Sizeof(shard{})) + minTable*int64(unsafe.Sizeof(slot{}))
	if cfg.MaxEntries > 0 {
		perShard += sketchStart * 8
	}
	share := cfg.MaxBytes / int64(cfg.Shards)
	return int64(cfg.Shards) * (perShard + int64(slotsFor(share, cfg.SegmentBytes))*perSlot)
}

// defaultMaxValue is the default MaxValueBytes: MaxBytes/64, at least 4
// KiB, at most 16 MiB and a quarter of the budget. It depends on the
// budget only, not on the shard or segment sizes (which depend on
// GOMAXPROCS): a value a cache takes on a laptop, it takes on a server.
func defaultMaxValue(maxBytes int64) int {
	return int(min(max(maxBytes/64, 4<<10), 16<<20, maxBytes/4))
}

// slotsFor returns the size of a shard's table of slots: room for six
// times its share of the budget in segments, since the budget is the
// engine's (a shard may hold more than its share), and large entries take
// a slot each (at least a quarter segment).
func slotsFor(share int64, segBytes int) int {
	return int(min(6*(share/int64(segBytes))+4, maxSlots))
}

// maxKeyLen is the longest key an engine of cfg (resolved) accepts:
// arena.MaxKeyLen, or less in a budget too small for an entry of that key
// and the largest value next to every shard's head. The heads take at most
// half of MaxBytes (a share holds at least two segments) and a value at
// most a quarter, so a key may always take a quarter less a header.
func maxKeyLen(cfg Config) int {
	room := cfg.MaxBytes - int64(cfg.Shards)*int64(cfg.SegmentBytes) - int64(arena.EntrySize(0, cfg.MaxValueBytes))
	return int(min(arena.MaxKeyLen, room&^7))
}

// MaxEntryBytes is the largest entry (arena.EntrySize of key and value) the
// engine accepts: the longest key with the largest value.
func (e *Engine) MaxEntryBytes() int { return arena.EntrySize(e.maxKey, e.maxValue) }

// MaxValueBytes is the largest value the engine accepts.
func (e *Engine) MaxValueBytes() int { return e.maxValue }

// MaxKeyBytes is the longest key the engine accepts (see maxKeyLen).
func (e *Engine) MaxKeyBytes() int { return e.maxKey }

func (e *Engine) shardOf(h uint64) *shard { return &e.shards[h>>e.shift] }

// hashOf hashes a key with the engine's random seed (see keyHasher),
// unless a test replaced the hash (a direct call, not an indirect one
// through a func field, which would cost a few ns on every operation).
func (e *Engine) hashOf(key string) uint64 {
	if e.testHash != nil {
		return e.testHash(key)
	}
	return e.hasher.hash(key)
}

// AppendValue appends the value stored for key to dst. ok is false on a
// miss: the key is absent, expired, or the engine is closed.
func (e *Engine) AppendValue(dst []byte, key string) ([]byte, bool) {
	v, p, ok := e.findValue(key)
	if !ok {
		return dst, false
	}
	dst = append(dst, v...)
	e.readers.leaveHit(p, copyHold)
	return dst, true
}

// lookup finds key's value and counts the hit or miss. The returned slice
// aliases segment memory: it must be copied, never modified or kept, and
// on a hit the caller must call leave(at) once it is done with it, and not
// touch it after: until then the segment is not reused (see readers and
// segPool). at locates the entry, for callers that want its expiry or TTL.
//
// The read path takes no lock and writes shared memory only to count the
// hit or miss and, while the entry's 2-bit frequency is below its maximum,
// to raise it.
func (e *Engine) lookup(key string, hold readHold) (v []byte, at entryRef, ok bool) {
	return e.find(key, countRead, hold)
}

// A readMode says what a lookup looks for, and whether it counts as a
// read: a hit or miss in Stats, and a use of the entry for the eviction
// policy.
type readMode uint8

const (
	countRead   readMode = iota // a value: Get, AppendValue, View, GetOrLoad
	quietRead                   // a value, only looking: Has, TTL
	absenceRead                 // an absence (see SetAbsent): a use, not a hit or miss
	staleRead                   // an expired value still kept (see GetStale): a use, not a hit or miss
)

// find is lookup, counting the read or not: Has and TTL use it quietly,
// so that they see exactly what Get sees.
func (e *Engine) find(key string, mode readMode, hold readHold) (v []byte, at entryRef, ok bool) {
	if e.closed.Load() {
		return nil, entryRef{}, false
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	var prev loc
	var p pin
	pinned := false
	// A location can go stale between the index load and the slot load
	// when a writer moves the entry (reinsertion, compaction) or frees its
	// segment. Then the index already holds the new location or none:
	// look again, and give up when the index has not changed.
	for try := 0; try < 4; try++ {
		l, ok := sh.index.load(h)
		if !ok || (try > 0 && l == prev) {
			break
		}
		prev = l
		// Entered before the slot load, so that a segment released
		// before it is not loaded, and one loaded is not reused until
		// leave. A key with no location (most misses) enters nothing.
		if !pinned {
			p, pinned = e.readers.enter(hold), true
		}
		// Acquire: the slot store happened before the index store that
		// published l, so this load sees that segment or a later one.
		seg := sh.slots[l.slot()].Load()
		if seg == nil || seg.Gen()&genMask != l.gen() {
			continue
		}
		// The entry's bytes were written before l was published and are
		// never written again: plain loads cannot see them torn.
		exp, v, absent, match := seg.Find(l.off(), key)
		now := e.clock.Now()
		if !match || (exp <= now) != (mode == staleRead) || absent != (mode == absenceRead) {
			break // another key with the same hash, or not what mode looks for
		}
		if mode == countRead {
			seg.Touch(l.off(), l.useLimit())
			return v, entryRef{seg, l.off(), exp, l.place(), p, hold, true}, true
		} else if mode != quietRead {
			if mode == staleRead && e.gone(exp, now) {
				break
			}
			seg.Touch(l.off(), l.useLimit()) // a use, for the eviction policy
		}
		return v, entryRef{seg, l.off(), exp, l.place(), p, hold, false}, true
	}
	if pinned {
		e.readers.leave(p, hold)
	}
	if mode == countRead {
		e.misses.inc()
	}
	return nil, entryRef{}, false
}

// findValue is lookup for AppendValue and Get, the path of nearly every
// read: it takes find's steps with countRead and copyHold, the same ones
// (a change to one is a change to both), and returns only the value and
// the reader's pin, which the caller gives up with leaveHit once it has
// copied the value. Without find's modes and its entryRef to fill and
// return, a hit costs about 70 instructions fewer (docs/benchmarks.md).
func (e *Engine) findValue(key string) (v []byte, p pin, ok bool) {
	if e.closed.Load() {
		return nil, 0, false
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	var prev loc
	pinned := false
	for try := 0; try < 4; try++ {
		l, ok := sh.index.load(h)
		if !ok || (try > 0 && l == prev) {
			break
		}
		prev = l
		if !pinned {
			p, pinned = e.readers.enter(copyHold), true
		}
		seg := sh.slots[l.slot()].Load()
		if seg == nil || seg.Gen()&genMask != l.gen() {
			continue
		}
		v, ok := seg.Value(l.off(), key, e.clock.Now())
		if !ok {
			break // another key with the same hash, expired, or an absence
		}
		seg.Touch(l.off(), l.useLimit())
		return v, p, true
	}
	if pinned {
		e.readers.leave(p, copyHold)
	}
	e.misses.inc()
	return nil, 0, false
}

// An entryRef locates an entry that a lookup found, and carries its expiry
// and the reader's pin, which leave gives up.
type entryRef struct {
	seg      *arena.Segment
	off      int
	expireAt int64
	at       loc // without the queue bit
	pin      pin
	hold     readHold
	hit      bool // leave counts a hit
}

// leave ends the read that found at: the caller is done with its segment.
func (e *Engine) leave(at entryRef) {
	if at.hit {
		e.readers.leaveHit(at.pin, at.hold)
	} else {
		e.readers.leave(at.pin, at.hold)
	}
}

// An EntryInfo describes a stored entry's lifetime.
type EntryInfo struct {
	ExpireAt int64         // clock time (see Now) at which it expires; arena.Never if it does not
	TTL      time.Duration // the lifetime it was stored with, to 0.4%; 0 if none

	// at is where the entry is, which no other entry shares (a slot's
	// generations only grow): Watch starts only while key's entry is
	// still this one. Zero where unknown.
	at loc
}

// GetInfo appends key's value to dst, as AppendValue, and also returns the entry's
// expiry and the TTL it was stored with.
func (e *Engine) GetInfo(dst []byte, key string) ([]byte, EntryInfo, bool) {
	return e.appendInfo(dst, key, countRead)
}

// appendInfo is GetInfo, Peek and GetStale: it finds key's entry in mode
// and appends its value to dst.
func (e *Engine) appendInfo(dst []byte, key string, mode readMode) ([]byte, EntryInfo, bool) {
	v, at, ok := e.find(key, mode, copyHold)
	if !ok {
		return dst, EntryInfo{}, false
	}
	dst = append(dst, v...)
	info := EntryInfo{at.expireAt, at.seg.TTL(at.off), at.at}
	e.leave(at)
	return dst, info, true
}

// Info returns the expiry and TTL of key's entry without reading its value
// or counting a hit or miss; ok is false if it is absent or expired.
func (e *Engine) Info(key string) (EntryInfo, bool) {
	_, at, ok := e.find(key, quietRead, copyHold)
	if !ok {
		return EntryInfo{}, false
	}
	info := EntryInfo{at.expireAt, at.seg.TTL(at.off), at.at}
	e.leave(at)
	return info, true
}

// Peek is GetInfo without counting a hit or miss: for a second look
// within one call that counted its first.
func (e *Engine) Peek(dst []byte, key string) ([]byte, EntryInfo, bool) {
	return e.appendInfo(dst, key, quietRead)
}

// Closed reports whether Close was called.
func (e *Engine) Closed() bool { return e.closed.Load() }

// Now returns the engine's clock time, in nanoseconds, the scale of
// EntryInfo.ExpireAt and Restore's expireAt.
func (e *Engine) Now() int64 { return e.clock.Now() }

// View calls fn with the value stored for key, aliasing segment memory,
// and reports whether it was found. fn must neither modify nor keep the
// slice: it is safe to read while fn runs because the read lasts until fn
// returns (or panics), and a segment is reused only once no read that
// could have loaded it is in progress. While fn runs, released segments
// wait: a long fn holds back their reuse, and writers that find the pool
// empty meanwhile allocate (see segPool).
func (e *Engine) View(key string, fn func(value []byte)) bool {
	v, at, ok := e.lookup(key, viewHold)
	if ok {
		defer e.leave(at)
		fn(v)
	}
	return ok
}

// Get returns a copy of the value stored for key in a new slice of
// exactly its length (cheaper than AppendValue with a nil dst, which rounds the
// allocation up through append's growth).
func (e *Engine) Get(key string) ([]byte, bool) {
	v, p, ok := e.findValue(key)
	if !ok {
		return nil, false
	}
	b := make([]byte, len(v))
	copy(b, v)
	e.readers.leaveHit(p, copyHold)
	return b, true
}

// Has reports whether key is present, without copying its value or
// counting a hit.
func (e *Engine) Has(key string) bool {
	_, ok := e.Info(key)
	return ok
}

// Set stores a copy of value under key. ttl 0 means the default TTL; a
// default of 0 means the entry does not expire.
func (e *Engine) Set(key string, value []byte, ttl time.Duration) error {
	ttl, ok := e.checkWrite(key, value, ttl)
	if !ok {
		return e.refuse(key, value, ttl)
	}
	if e.closed.Load() {
		return ErrClosed
	}
	// store's body, written out: Set is the write path users time, and
	// the call with five arguments costs a few percent of it.
	h := e.hashOf(key)
	sh := e.shardOf(h)
	if !sh.mu.TryLock() {
		return sh.setWaiting(h, key, value, ttl) // see combine.go
	}
	// lockOpen and unlock, written out (unlock does not inline).
	if sh.closed {
		sh.mu.Unlock()
		return ErrClosed
	}
	now := e.clock.Now()
	sh.set(h, key, value, expiry(now, ttl), ttl, now, storedValue)
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
		e.report(removed)
	}
	return nil
}

// Restore stores key as Set does, but with the expiry given as a clock
// time (see Now; arena.Never for none) rather than a TTL from now, and ttl
// recorded as the lifetime it was stored with. Snapshots use it to bring
// entries back with the lifetime they had left. An entry already expired
// is not stored, and Restore returns nil.
func (e *Engine) Restore(key string, value []byte, expireAt int64, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("%w: %v is negative", ErrInvalidTTL, ttl)
	}
	if err := e.check(key, value); err != nil {
		return err
	}
	if expireAt <= e.clock.Now() {
		return nil
	}
	_, err := e.store(key, value, ttl, expireAt, unwatched, storedValue)
	return err
}

// SetAbsent records that key has no value, for ttl (0: the default TTL):
// until then, Absent reports it, and lookups miss as if nothing were
// stored. The record is an entry with an empty value, marked (see
// arena.Segment.MarkAbsent): it replaces key's value, a Set of key
// replaces it, Delete removes it, and it is evicted and expires like any
// other entry, unseen by Range and by OnRemove.
func (e *Engine) SetAbsent(key string, ttl time.Duration) error {
	ttl, ok := e.checkWrite(key, nil, ttl)
	if !ok {
		return e.refuse(key, nil, ttl)
	}
	_, err := e.store(key, nil, ttl, fromNow, unwatched, storedAbsence)
	return err
}

// GetStale appends to dst the value of key's entry if it has expired but
// is still kept (Config.KeepExpired), and returns its expiry and TTL; a
// live entry, or none, is reported as not found. It counts no hit or miss.
func (e *Engine) GetStale(dst []byte, key string) ([]byte, EntryInfo, bool) {
	return e.appendInfo(dst, key, staleRead)
}

// StaleInfo returns what GetStale would, without copying the value.
func (e *Engine) StaleInfo(key string) (EntryInfo, bool) {
	_, at, ok := e.find(key, staleRead, copyHold)
	if !ok {
		return EntryInfo{}, false
	}
	info := EntryInfo{at.expireAt, at.seg.TTL(at.off), at.at}
	e.leave(at)
	return info, true
}

// gone reports whether an entry that expires at exp is past the time it is
// kept for (Config.KeepExpired) at now: then it is removed, not just
// unseen. Entries that never expire are never gone.
func (e *Engine) gone(exp, now int64) bool {
	// now-exp in unsigned arithmetic is the true difference when exp <=
	// now, where now-e.keep could wrap on a clock near the int64 limits
	// (only differences of clock times matter: see Config.Clock).
	return exp <= now && uint64(now)-uint64(exp) >= uint64(e.keep)
}

// Absent reports whether key's entry is an absence (see SetAbsent) that
// has not expired. Finding one counts as a use of it for the eviction
// policy, not as a hit or a miss.
func (e *Engine) Absent(key string) bool {
	_, at, ok := e.find(key, absenceRead, copyHold)
	if ok {
		e.leave(at)
	}
	return ok
}

// checkWrite returns the TTL to store for a write of key and value with
// ttl (the default TTL for 0), and whether the engine takes the write; if
// not, refuse says why. Small enough to inline into Set.
func (e *Engine) checkWrite(key string, value []byte, ttl time.Duration) (time.Duration, bool) {
	if ttl == 0 {
		ttl = e.defaultTTL
	}
	return ttl, ttl >= 0 && len(key) <= e.maxKey && len(value) <= e.maxValue
}

// refuse returns the error for a write checkWrite refused: ErrClosed on a
// closed engine, as for any write, else why.
func (e *Engine) refuse(key string, value []byte, ttl time.Duration) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if ttl < 0 {
		return fmt.Errorf("%w: %v is negative", ErrInvalidTTL, ttl)
	}
	return e.check(key, value)
}

// check returns the error for a key or entry the engine cannot hold, and
// counts it in Stats.Rejected.
func (e *Engine) check(key string, value []byte) error {
	if len(key) > e.maxKey {
		e.rejected.Add(1)
		return fmt.Errorf("%w: key of %d bytes, the limit is %d", ErrTooLarge, len(key), e.maxKey)
	}
	if len(value) > e.maxValue {
		e.rejected.Add(1)
		return fmt.Errorf("%w: value of %d bytes, the limit is %d (Options.MaxValueBytes)", ErrTooLarge, len(value), e.maxValue)
	}
	return nil
}

// fromNow tells store to compute the expiry from the TTL and the clock.
const fromNow = math.MinInt64

// unwatched tells store to write whatever entry key has (watched).
var unwatched Watch

// store appends the entry under the shard lock, expiring at expireAt, or
// ttl after the clock time read under that lock if expireAt is fromNow,
// and reports what the write removed once the lock is released. With a
// watch other than unwatched it stores only if the watch is still on
// (see Watch), ends it, and reports whether it stored. (Set writes this
// out for speed; Restore, SetAbsent and the watched stores share it.)
func (e *Engine) store(key string, value []byte, ttl time.Duration, expireAt int64, w Watch, kind valueKind) (bool, error) {
	if e.closed.Load() {
		return false, ErrClosed
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	if !sh.lockOpen() {
		return false, ErrClosed
	}
	now := e.clock.Now()
	if w != unwatched && (w.h != h || !sh.endWatch(w)) {
		sh.mu.Unlock()
		return false, nil
	}
	if expireAt == fromNow {
		expireAt = expiry(now, ttl)
	}
	sh.set(h, key, value, expireAt, ttl, now, kind)
	sh.unlock()
	return true, nil
}

// expiry returns the clock time at which an entry written at now with ttl
// dies, saturating instead of overflowing: a TTL of centuries never expires.
func expiry(now int64, ttl time.Duration) int64 {
	if ttl == 0 || now >= 0 && int64(ttl) > math.MaxInt64-now {
		return arena.Never
	}
	return now + int64(ttl)
}

// Delete removes key and reports whether it was present (an expired entry
// is removed too, but does not count as present).
func (e *Engine) Delete(key string) bool {
	if e.closed.Load() {
		return false
	}
	h := e.hashOf(key)
	sh := e.shardOf(h)
	if !sh.lockOpen() {
		return false
	}
	ok := sh.delete(h, key, e.clock.Now())
	sh.unlock()
	return ok
}

// Len returns the number of entries stored, counting expired entries the
// sweep has not reached yet.
//
// Under MaxEntries it is the engine's own count, which a Set raises before
// it evicts: while writes run, it exceeds the bound by at most the Sets in
// progress. The sum of the shards' counts, read one after another, could
// count an entry a Set added in one shard and not the one it evicted in
// another, once for every Set made during the sum.
func (e *Engine) Len() int {
	if e.maxEntries > 0 {
		return int(e.entries.Load())
	}
	n := int64(0)
	for i := range e.shards {
		n += e.shards[i].count.Load()
	}
	return int(n)
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Hits, Misses, Sets, Deletes, Evictions, Expirations uint64
	Entries                                             int
	LiveBytes                                           int64 // bytes of the entries stored (arena.EntrySize each)
	HeldBytes                                           int64 // bytes of segments held (the budget counts these)
	SetBytes                                            int64 // bytes of entries appended by Set
	MovedBytes                                          int64 // bytes of entries copied forward by compaction and reinsertion
	CallbackPanics                                      uint64
	Rejected                                            uint64 // writes refused with ErrTooLarge
	Recycled                                            uint64 // segments taken from the pool (see segPool)
	Untracked                                           uint64 // segments made past the pool's limit
	ForcedGCs                                           uint64 // collections the pool ran itself (see segPool)
}

// Stats returns the counters. Each shard is read under its lock, so the
// figures of one shard are consistent with each other; the whole is not a
// single instant.
func (e *Engine) Stats() Stats {
	s := Stats{
		Hits:           e.readers.fold(),
		Misses:         e.misses.load(),
		CallbackPanics: e.callbackPanics.Load(),
		Rejected:       e.rejected.Load(),
		Recycled:       e.pool.reused.Load(),
		Untracked:      e.pool.untracked.Load(),
		ForcedGCs:      e.pool.forced.Load(),
	}
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		s.Sets += sh.sets
		s.Deletes += sh.deletes
		s.Evictions += sh.evictions
		s.Expirations += sh.expirations
		s.Entries += int(sh.count.Load())
		s.LiveBytes += sh.live
		s.HeldBytes += sh.held
		s.SetBytes += sh.setBytes
		s.MovedBytes += sh.movedBytes
		sh.mu.Unlock()
	}
	return s
}

// Range calls yield for the live, unexpired entries, shard by shard, until
// yield returns false. key and value are copies in buffers that Range
// reuses for the next entry: yield may read them until it returns, and
// must copy what it keeps.
//
// Range is weakly consistent and holds no lock while yield runs. It visits
// each shard's log up to where the log ended when it reached the shard,
// and yields an entry only if the index still points at it then. So it
// yields each key at most once, never a torn or removed-before value, and
// every entry that stays where it is throughout; an entry written, or
// moved by eviction or compaction, during the walk may be missed.
func (e *Engine) Range(yield func(key string, value []byte, info EntryInfo) bool) {
	if e.closed.Load() {
		return
	}
	for i := range e.shards {
		if !e.shards[i].each(yield) {
			return
		}
	}
}

// Clear removes every entry. Its cost grows with the number of segments,
// not entries (see shard.reset); OnRemove is not called. Counters other
// than the entry count and bytes carry on. An entry Set concurrently with
// Clear may survive it.
func (e *Engine) Clear() {
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			sh.reset()
		}
		sh.mu.Unlock()
	}
}

// Close stops the engine (see Stop) and waits for its sweep goroutine to
// return, unless it is called by a sweep goroutine (from an OnRemove
// callback for an expired entry), which would wait for itself: the sweep
// returns as soon as that callback does. Later writes return ErrClosed and
// reads miss. Close is idempotent, and may be called from anywhere,
// OnRemove included. The sweep goroutine releases the clock on its way
// out, so the clock is released exactly once whoever closes.
func (e *Engine) Close() error {
	e.Stop()
	if !e.InSweep() {
		<-e.done
	}
	return nil
}

// Stop is Close without the wait: the first call marks the engine closed,
// tells the sweep to stop and empties the shards; every call returns at
// once. The sweep goroutine returns as soon as the sweep or the callback
// it is in does. It is for callers that the sweep goroutine may be
// waiting for.
func (e *Engine) Stop() {
	if e.closed.CompareAndSwap(false, true) {
		close(e.stop)
		for i := range e.shards {
			e.shards[i].close()
		}
		e.pool.close()
	}
}

// InSweep reports whether the caller runs on this engine's sweep
// goroutine: in an OnRemove callback for an entry that its sweep found
// expired.
func (e *Engine) InSweep() bool { return e.sweeper.Load() == GoroutineID() }

// sweepExpired removes every expired entry now, as the background sweep
// does each ExpiryInterval. Tests with a manual clock call it directly.
func (e *Engine) sweepExpired() {
	e.sweepMu.Lock()
	defer e.sweepMu.Unlock()
	now := e.clock.Now()
	first := e.firstExpire.Load()
	least := int64(arena.Never)
	for i := range e.shards {
		e.sweepSlots = e.shards[i].sweep(now, e.sweepSlots[:0])
		least = min(least, e.shards[i].seen.firstExpire.Load())
	}
	// Only if no append lowered it meanwhile: then least may miss that
	// append, and the lower value stays until the next sweep.
	e.firstExpire.CompareAndSwap(first, least)
}

// lowerFirstExpire lowers firstExpire to exp if exp is earlier.
func (e *Engine) lowerFirstExpire(exp int64) {
	for {
		first := e.firstExpire.Load()
		if exp >= first || e.firstExpire.CompareAndSwap(first, exp) {
			return
		}
	}
}

// sweepLoop is the engine's goroutine: it sweeps every interval until
// Close, then releases the clock. An OnRemove callback that it runs (for
// an entry the sweep removed) and that calls runtime.Goexit (t.FailNow
// does) ends the goroutine, whatever recover does: then a new one takes
// over, so that expiry, grace periods and collections go on.
func (e *Engine) sweepLoop(every time.Duration) {
	e.sweeper.Store(GoroutineID())
	goexit := true // until sweepUntilClose returns
	defer func() {
		if goexit {
			go e.sweepLoop(every)
			return
		}
		if e.ownClock {
			clock.Release(e.clock)
		}
		close(e.done)
	}()
	e.sweepUntilClose(every)
	goexit = false
}

// sweepUntilClose is sweepLoop's work.
func (e *Engine) sweepUntilClose(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	fold := time.NewTicker(time.Minute)
	defer fold.Stop()
	// turn is set while a forced collection waits for its turn (see
	// segPool.collect), and nil otherwise.
	turnTimer := time.NewTimer(time.Hour)
	turnTimer.Stop()
	var turn <-chan time.Time
	for {
		select {
		case <-e.stop:
			return
		case <-e.pool.graceReq:
			// Released segments come back once no read that could
			// hold one is in progress (see segPool).
			e.pool.grace(e.stop)
		case <-e.pool.gc:
			// Large and untracked segments' bytes come back once a
			// collection frees them (see segPool).
			if turn == nil {
				if wait := e.pool.collect(); wait > 0 {
					turnTimer.Reset(wait)
					turn = turnTimer.C
				}
			}
		case <-turn:
			turn = nil
			if wait := e.pool.collect(); wait > 0 {
				turnTimer.Reset(wait)
				turn = turnTimer.C
			}
		case <-fold.C:
			e.readers.fold() // often enough that no hit field wraps twice
		case <-e.pool.prefault:
			if e.pool.prefaultOne() {
				e.pool.askPrefault() // the next after any request waiting
			}
		case <-t.C:
			if e.closed.Load() {
				return
			}
			e.sweepExpired()
			e.pool.settle()
		}
	}
}
