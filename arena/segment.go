// Package arena packs cache entries into large byte segments, so that the
// garbage collector sees one pointer-free object per segment instead of one
// object per key and value.
//
// A Segment is append-only. Its owner (one writer at a time, serialized by
// the caller) appends entries; once an entry is appended and its offset has
// been published to readers through a synchronizing operation (an atomic
// store, a mutex), its bytes never change again. Readers may therefore read a
// published entry with plain loads, concurrently with the writer appending
// further entries after it: the two never touch the same bytes.
//
// The owner may also mark entries dead (MarkDead), once it no longer
// counts them, so that a walk over the segment tells them apart (Dead)
// without reading more than their header. The marks are the owner's own
// bookkeeping, in a bitmap beside the data (a bit per 16 bytes: 0.8% of
// the segment), and readers never look at them. An append leaves them
// alone: a new entry is not dead.
//
// A segment is reused for other entries only through Recycle, which its
// owner may call only once no reader can hold the segment any more: the
// engine learns that from its count of the reads in progress (see
// docs/design.md). A slice of a segment's bytes keeps the memory from
// being freed, not from being recycled: readers use one only inside the
// read that the engine counts.
//
// The only mutable state in a published entry is its frequency, a 2-bit
// saturating counter that reads raise and the owner's eviction policy
// lowers. It shares a 32-bit word with the key length, and that word is
// only ever accessed atomically.
//
// Who imports it: package engine, which owns the segments. Its API follows
// the engine's needs and changes with it.
package arena

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"
)

// Entry layout, little-endian, each entry starting at a multiple of 8:
//
//	offset  size  field
//	     0     8  expireAt: int64 clock time at which the entry dies;
//	              math.MaxInt64 means never. Plain loads.
//	     8     4  value length (bits 0..30) and, in bit 31, the absence
//	              mark (see MarkAbsent). Plain loads.
//	    12     4  meta (uint32), atomic loads and stores only:
//	              bits 0..15 key length, bits 16..17 frequency (0..3),
//	              bits 18..31 the TTL the entry was stored with,
//	              coarsely (see ttlCode)
//	    16     k  key bytes
//	  16+k     v  value bytes
//	              padding to the next multiple of 8
//
// The frequency lives in the entry rather than in a side table so that a
// Get touches one place in memory, not two. Plain reads of bytes 0..11 and
// 16.. never overlap the atomically accessed meta word, so they do not race
// with a concurrent Touch (the race detector tracks accesses by byte).
const (
	HeaderSize = 16
	align      = 8
	metaOff    = 12
	freqShift  = 16
	freqMask   = 3 << freqShift
	keyLenMask = 1<<16 - 1
	absentBit  = 1 << 31
	valueMask  = absentBit - 1
	ttlShift   = 18

	// MaxFreq is the largest frequency an entry counts up to.
	MaxFreq = 3

	// MaxKeyLen is the longest key an entry can hold.
	MaxKeyLen = math.MaxUint16
	// MaxSegmentBytes is the largest segment. (Segments that pack many
	// entries are smaller: the engine keeps offsets in 24 bits, and gives
	// an entry larger than its segments a segment of its own.)
	MaxSegmentBytes = math.MaxInt32
	// Never is the expireAt of an entry that does not expire.
	Never = math.MaxInt64
)

// EntrySize returns the bytes an entry with this key and value occupies.
func EntrySize(keyLen, valueLen int) int {
	return (HeaderSize + keyLen + valueLen + align - 1) &^ (align - 1)
}

// A Segment is a fixed-size, append-only run of entries.
type Segment struct {
	// data is allocated once and never resliced. Bytes [0, used) hold
	// entries; each is immutable once appended.
	data []byte
	// gen tells this segment apart from earlier and later segments that
	// occupied the same slot of the owner's table. Set by NewSegment and
	// Recycle, when no reader holds the segment.
	gen uint32
	// Readers load data and gen on every Get; the owner writes used on
	// every append. The padding keeps them on different cache lines, so
	// appends do not evict the line readers need.
	_ [64]byte
	// used is the append position. Only the owner reads or writes it.
	used int
	// dead has bit off/markUnit set once the entry at off is marked dead
	// (MarkDead). Entries start at least HeaderSize = markUnit bytes
	// apart, so each has a bit of its own. Owner only.
	dead []uint64
}

// markUnit is the bytes of data per bit of dead: the smallest entry.
const markUnit = HeaderSize

// NewSegment allocates a segment of size bytes (at most MaxSegmentBytes).
func NewSegment(size int, gen uint32) *Segment {
	if size <= 0 || size > MaxSegmentBytes {
		panic("arena: bad segment size")
	}
	// A large allocation is page-aligned and a small one is aligned to
	// its size class, at least 8 bytes: every entry's meta word is 4-byte
	// aligned, as atomic operations need.
	bits := (size + markUnit - 1) / markUnit
	return &Segment{data: make([]byte, size), gen: gen, dead: make([]uint64, (bits+63)/64)}
}

// NewLargeSegment allocates a segment for one entry of size bytes (at
// most MaxSegmentBytes) with every byte the Go allocator sets aside for
// size: its Size is LargeSegmentBytes(size), the memory the entry takes,
// up to a quarter more than the entry just above 32 KiB, not only the
// entry.
func NewLargeSegment(size int, gen uint32) *Segment {
	if size <= 0 || size > MaxSegmentBytes {
		panic("arena: bad segment size")
	}
	data := make([]byte, LargeSegmentBytes(size))
	bits := (len(data) + markUnit - 1) / markUnit
	return &Segment{data: data, gen: gen, dead: make([]uint64, (bits+63)/64)}
}

// LargeSegmentBytes returns the Size of NewLargeSegment(size) without
// allocating it, so that a caller can count the bytes against a limit
// before it allocates them: the Go allocator's size class of size, or
// size in whole pages above 32 KiB (at most MaxSegmentBytes).
func LargeSegmentBytes(size int) int {
	if size > maxSmallAlloc {
		return min((size+allocPage-1)&^(allocPage-1), MaxSegmentBytes)
	}
	i, _ := slices.BinarySearch(allocClasses, size)
	return allocClasses[i]
}

const (
	maxSmallAlloc = 32 << 10 // the largest size class; larger objects get whole pages
	allocPage     = 8 << 10  // the allocator's page
)

// allocClasses are the Go allocator's size classes up to maxSmallAlloc,
// ascending, as it reports them: the capacity append gives a byte slice
// of each size is that size's class. (TestLargeSegmentBytes checks the
// page rounding above them the same way.)
var allocClasses = func() []int {
	var classes []int
	for size := 1; size <= maxSmallAlloc; {
		class := cap(slices.Grow([]byte(nil), size))
		classes = append(classes, class)
		size = class + 1
	}
	return classes
}()

// Prefault faults in every page of a new segment's data, so that the page
// faults of its first touch are taken now, by the caller, not by the
// appends that fill it. It writes a zero to every 4 KiB page, after
// asking the kernel to fault them all in with one system call where it
// can (populate): on the project's VM that alone does not make the first
// writes free, but the two together cost half what the writes alone do.
// The data stays all zero. Owner only, before any entry.
func (s *Segment) Prefault() {
	populate(s.data)
	for i := 0; i < len(s.data); i += 4096 {
		s.data[i] = 0
	}
}

// Gen returns the generation the segment was created or recycled with.
func (s *Segment) Gen() uint32 { return s.gen }

// Recycle empties the segment for reuse under generation gen. Owner only,
// and only when no reader can still hold the segment: its old entries'
// bytes are overwritten by the next appends.
func (s *Segment) Recycle(gen uint32) {
	s.gen = gen
	s.used = 0
	clear(s.dead)
}

// MarkDead marks the entry at off dead: the owner no longer counts it.
// Owner only.
func (s *Segment) MarkDead(off int) {
	i := off / markUnit
	s.dead[i/64] |= 1 << (i % 64)
}

// Dead reports whether the entry at off is marked dead. Owner only.
func (s *Segment) Dead(off int) bool {
	i := off / markUnit
	return s.dead[i/64]&(1<<(i%64)) != 0
}

// Size returns the segment's capacity in bytes.
func (s *Segment) Size() int { return len(s.data) }

// Used returns the bytes appended so far. Owner only.
func (s *Segment) Used() int { return s.used }

// Free returns the bytes still available. Owner only.
func (s *Segment) Free() int { return len(s.data) - s.used }

// Append writes an entry and returns its offset, or ok=false if it does not
// fit (or the key is longer than MaxKeyLen). ttl is the lifetime the entry
// was stored with (0: none), kept to within 0.4% for TTL. The entry starts
// with frequency 0. Owner only. The
// entry becomes visible to readers only when the caller publishes the
// offset.
func (s *Segment) Append(key string, value []byte, expireAt int64, ttl time.Duration) (off int, ok bool) {
	n := EntrySize(len(key), len(value))
	if len(key) > MaxKeyLen || len(value) > valueMask || n > len(s.data)-s.used {
		return 0, false
	}
	off = s.used
	b := s.data[off : off+n]
	h := (*[HeaderSize]byte)(b) // n >= HeaderSize: one check for the header's stores
	binary.LittleEndian.PutUint64(h[0:8], uint64(expireAt))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(value)))
	// A plain store is enough: no reader can see the entry before the
	// owner publishes off, which happens after this.
	binary.LittleEndian.PutUint32(h[12:16], uint32(len(key))|ttlCode(ttl)<<ttlShift)
	copy(b[HeaderSize:], key)
	copy(b[HeaderSize+len(key):], value)
	s.used += n
	return off, true
}

// Entry returns the parts of the entry at off: its expiry, key and value. The
// key and value alias the segment and must not be modified. Safe for readers
// once off is published.
func (s *Segment) Entry(off int) (expireAt int64, key, value []byte) {
	h := s.data[off : off+HeaderSize]
	expireAt = int64(binary.LittleEndian.Uint64(h[0:8]))
	v := int(binary.LittleEndian.Uint32(h[8:12]) & valueMask)
	k := int(s.meta(off).Load() & keyLenMask)
	start := off + HeaderSize
	return expireAt, s.data[start : start+k : start+k], s.data[start+k : start+k+v : start+k+v]
}

// Find returns the expiry and value of the entry at off, and whether it
// is an absence (see MarkAbsent), if its key is key; ok is false if it is
// another key's. It is Entry, a key compare and Absent in one: the header
// is sliced and checked once, and a key of another length is told apart
// before its bytes are read. The value aliases the segment, as Entry's
// does. Safe for readers once off is published.
func (s *Segment) Find(off int, key string) (expireAt int64, value []byte, absent, ok bool) {
	h := (*[HeaderSize]byte)(s.data[off : off+HeaderSize])
	// Safe: the meta word is 4 bytes inside h, 4-byte aligned (see meta).
	k := int((*atomic.Uint32)(unsafe.Pointer(&h[metaOff])).Load() & keyLenMask)
	if k != len(key) {
		return 0, nil, false, false
	}
	vw := binary.LittleEndian.Uint32(h[8:12])
	start := off + HeaderSize
	end := start + k + int(vw&valueMask)
	e := s.data[start:end:end]
	if string(e[:k]) != key {
		return 0, nil, false, false
	}
	return int64(binary.LittleEndian.Uint64(h[0:8])), e[k:], vw&absentBit != 0, true
}

// Value returns the value of the entry at off if its key is key, it has
// not expired at now, and it is not an absence: Find for the reads that
// want a live value only, in fewer instructions (it returns less). The
// value aliases the segment. Safe for readers once off is published.
func (s *Segment) Value(off int, key string, now int64) (value []byte, ok bool) {
	h := (*[HeaderSize]byte)(s.data[off : off+HeaderSize])
	// Safe: the meta word is 4 bytes inside h, 4-byte aligned (see meta).
	k := int((*atomic.Uint32)(unsafe.Pointer(&h[metaOff])).Load() & keyLenMask)
	vw := binary.LittleEndian.Uint32(h[8:12])
	if k != len(key) || vw&absentBit != 0 || int64(binary.LittleEndian.Uint64(h[0:8])) <= now {
		return nil, false
	}
	start := off + HeaderSize
	end := start + k + int(vw)
	e := s.data[start:end:end]
	if string(e[:k]) != key {
		return nil, false
	}
	return e[k:], true
}

// Next returns the offset of the entry after the one at off, for walks
// over [0, Used()). A reader may walk up to a Used() value it read in
// synchronization with the owner (under the owner's lock, say).
func (s *Segment) Next(off int) int {
	v := int(binary.LittleEndian.Uint32(s.data[off+8:off+12]) & valueMask)
	k := int(s.meta(off).Load() & keyLenMask)
	return off + EntrySize(k, v)
}

// MarkAbsent marks the entry just appended at off, whose value is empty,
// as an absence: a record that its key has no value, which a cache keeps
// for a while so as not to ask for the key again. Owner only, before the
// entry is published (a plain store, like Append's).
func (s *Segment) MarkAbsent(off int) {
	w := s.data[off+8 : off+12]
	binary.LittleEndian.PutUint32(w, binary.LittleEndian.Uint32(w)|absentBit)
}

// Absent reports whether the entry at off is an absence (see MarkAbsent).
// Safe for readers once off is published.
func (s *Segment) Absent(off int) bool {
	return binary.LittleEndian.Uint32(s.data[off+8:off+12])&absentBit != 0
}

// meta returns the atomic word of the entry at off.
func (s *Segment) meta(off int) *atomic.Uint32 {
	w := s.data[off+metaOff : off+metaOff+4] // bounds check
	// Safe: w is 4 bytes inside a live allocation, 4-byte aligned (see
	// NewSegment and EntrySize), and only ever accessed through this
	// pointer's atomic methods.
	return (*atomic.Uint32)(unsafe.Pointer(&w[0]))
}

// Touch counts a read of the entry at off: its frequency goes up by one,
// up to limit (at most MaxFreq). It writes memory only when the count
// changes, so repeated hits on an entry at its limit stay read-only. A
// Touch that races with another change to the word may be lost; the count
// is a hint.
func (s *Segment) Touch(off, limit int) {
	m := s.meta(off)
	if w := m.Load(); w&freqMask < uint32(limit)<<freqShift {
		m.CompareAndSwap(w, w+1<<freqShift)
	}
}

// Freq returns the entry's frequency: reads counted since it was appended,
// less what SetFreq took away, at most MaxFreq.
func (s *Segment) Freq(off int) int { return int(s.meta(off).Load()&freqMask) >> freqShift }

// Hot reports whether the entry's frequency is above 0.
func (s *Segment) Hot(off int) bool { return s.meta(off).Load()&freqMask != 0 }

// SetFreq sets the entry's frequency to f (0..MaxFreq), writing only if it
// changes. Owner only: concurrent Touches may be lost, never the other bits.
func (s *Segment) SetFreq(off, f int) {
	m := s.meta(off)
	for {
		w := m.Load()
		nw := w&^freqMask | uint32(f)<<freqShift&freqMask
		if w == nw || m.CompareAndSwap(w, nw) {
			return
		}
	}
}

// TTL returns the lifetime the entry at off was stored with, rounded down
// by at most 0.4%, or 0 if it was stored without one.
func (s *Segment) TTL(off int) time.Duration {
	return ttlDecode(s.meta(off).Load() >> ttlShift)
}

// ttlCode packs a positive duration into 14 bits as a tiny float: a 6-bit
// exponent (the position of the leading one, 1..63) and the 8 bits after
// the leading one. The code of 0 (or a negative duration) is 0. The TTL is
// kept so that a refresh can be scheduled at a fraction of it, and a
// snapshot can restore it; neither needs it exactly, and the 14 spare bits
// of the meta word cost no extra bytes per entry.
func ttlCode(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	e := bits.Len64(uint64(d)) // 1..63
	var m uint64
	if e > 9 {
		m = uint64(d) >> (e - 9)
	} else {
		m = uint64(d) << (9 - e)
	}
	return uint32(e)<<8 | uint32(m&255)
}

// ttlDecode inverts ttlCode, rounding down.
func ttlDecode(c uint32) time.Duration {
	if c == 0 {
		return 0
	}
	e, m := int(c>>8), uint64(c&255)|256
	if e > 9 {
		return time.Duration(m << (e - 9))
	}
	return time.Duration(m >> (9 - e))
}
