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
// A segment's memory is never reused for other entries. When its owner
// retires a segment it drops its reference, and the garbage collector frees
// the memory once no reader still holds it. That is what makes a torn or
// recycled read impossible without reader-side synchronization; the cost is
// allocation proportional to bytes written (see docs/design.md).
//
// The only mutable state a reader touches is the hot bitmap: one bit per 16
// bytes of segment, set atomically by the first read of an entry and cleared
// by the owner's eviction policy.
package arena

import (
	"encoding/binary"
	"math"
	"sync/atomic"
)

// Entry layout, little-endian, packed with no alignment:
//
//	offset  size  field
//	     0     8  expireAt: int64 clock time after which the entry is dead;
//	              math.MaxInt64 means never
//	     8     2  key length (uint16)
//	    10     4  value length (uint32)
//	    14     2  reserved, zero
//	    16     k  key bytes
//	  16+k     v  value bytes
//
// Every entry is at least HeaderSize bytes long, so two entries never start
// in the same 16-byte block: offset/16 names an entry uniquely, which is how
// the hot bitmap is indexed.
const (
	HeaderSize = 16
	hotBlock   = 16

	// MaxKeyLen is the longest key an entry can hold.
	MaxKeyLen = math.MaxUint16
	// MaxSegmentBytes is the largest segment: offsets fit in 24 bits.
	MaxSegmentBytes = 1 << 24
	// Never is the expireAt of an entry that does not expire.
	Never = math.MaxInt64
)

// EntrySize returns the bytes an entry with this key and value occupies.
func EntrySize(keyLen, valueLen int) int { return HeaderSize + keyLen + valueLen }

// A Segment is a fixed-size, append-only run of entries.
type Segment struct {
	// data is allocated once and never resliced. Bytes [0, used) hold
	// entries; each is immutable once appended.
	data []byte
	// gen tells this segment apart from earlier and later segments that
	// occupied the same slot of the owner's table. Immutable.
	gen uint32
	// hot holds one bit per 16-byte block; the bit of an entry's first
	// block is its "read since inserted" mark. Readers set bits with an
	// atomic Or (only when unset, so a hot entry costs readers no write);
	// the owner reads and clears them.
	hot []atomic.Uint32
	// used is the append position. Only the owner reads or writes it.
	used int
}

// NewSegment allocates a segment of size bytes (at most MaxSegmentBytes).
func NewSegment(size int, gen uint32) *Segment {
	if size <= 0 || size > MaxSegmentBytes {
		panic("arena: bad segment size")
	}
	blocks := (size + hotBlock - 1) / hotBlock
	return &Segment{
		data: make([]byte, size),
		gen:  gen,
		hot:  make([]atomic.Uint32, (blocks+31)/32),
	}
}

// Gen returns the generation the segment was created with.
func (s *Segment) Gen() uint32 { return s.gen }

// Size returns the segment's capacity in bytes.
func (s *Segment) Size() int { return len(s.data) }

// Used returns the bytes appended so far. Owner only.
func (s *Segment) Used() int { return s.used }

// Free returns the bytes still available. Owner only.
func (s *Segment) Free() int { return len(s.data) - s.used }

// Append writes an entry and returns its offset, or ok=false if it does not
// fit (or the key is longer than MaxKeyLen). Owner only. The entry becomes
// visible to readers only when the caller publishes the offset.
func (s *Segment) Append(key string, value []byte, expireAt int64) (off int, ok bool) {
	n := EntrySize(len(key), len(value))
	if len(key) > MaxKeyLen || len(value) > math.MaxUint32 || n > len(s.data)-s.used {
		return 0, false
	}
	off = s.used
	b := s.data[off : off+n]
	binary.LittleEndian.PutUint64(b[0:8], uint64(expireAt))
	binary.LittleEndian.PutUint16(b[8:10], uint16(len(key)))
	binary.LittleEndian.PutUint32(b[10:14], uint32(len(value)))
	// b[14:16] are still zero: the segment is fresh and never rewritten.
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
	k := int(binary.LittleEndian.Uint16(h[8:10]))
	v := int(binary.LittleEndian.Uint32(h[10:14]))
	start := off + HeaderSize
	return expireAt, s.data[start : start+k : start+k], s.data[start+k : start+k+v : start+k+v]
}

// Next returns the offset of the entry after the one at off. Owner only
// (it is meant for walks over [0, Used())).
func (s *Segment) Next(off int) int {
	h := s.data[off : off+HeaderSize]
	k := int(binary.LittleEndian.Uint16(h[8:10]))
	v := int(binary.LittleEndian.Uint32(h[10:14]))
	return off + EntrySize(k, v)
}

// Touch marks the entry at off as read. It writes shared memory only the
// first time, so repeated hits on a hot entry are read-only.
func (s *Segment) Touch(off int) {
	w, bit := hotBit(off)
	if s.hot[w].Load()&bit == 0 {
		s.hot[w].Or(bit)
	}
}

// Hot reports whether the entry at off was read since it was appended or
// since ClearHot.
func (s *Segment) Hot(off int) bool {
	w, bit := hotBit(off)
	return s.hot[w].Load()&bit != 0
}

// ClearHot forgets that the entry at off was read.
func (s *Segment) ClearHot(off int) {
	w, bit := hotBit(off)
	if s.hot[w].Load()&bit != 0 {
		s.hot[w].And(^bit)
	}
}

func hotBit(off int) (word int, bit uint32) {
	b := off / hotBlock
	return b / 32, 1 << (b % 32)
}
