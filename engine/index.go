package engine

import "github.com/puzpuzpuz/xsync/v3"

// index maps a key's 64-bit hash to the packed location of its entry. It is
// a thin wrapper so that the table behind it can be replaced (the GC work
// measures xsync's per-entry allocations against a pointer-free table).
//
// Loads are lock-free and may run concurrently with anything. Stores and
// deletes for one hash are serialized by the caller (the shard mutex), so a
// Load followed by a Store under that mutex is atomic with respect to other
// writers of that hash.
type index struct {
	m *xsync.MapOf[uint64, uint64]
}

func newIndex() index {
	return index{m: xsync.NewMapOfWithHasher[uint64, uint64](mixHash)}
}

// mixHash spreads the already well-mixed key hash with the table's random
// seed, so that bucket placement cannot be predicted from the key alone (an
// attacker who can choose keys cannot aim them all at one bucket).
func mixHash(h, seed uint64) uint64 {
	h ^= seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (x index) load(h uint64) (loc, bool) {
	v, ok := x.m.Load(h)
	return loc(v), ok
}

func (x index) store(h uint64, l loc) (old loc, replaced bool) {
	v, ok := x.m.LoadAndStore(h, uint64(l))
	return loc(v), ok
}

func (x index) delete(h uint64) { x.m.Delete(h) }

func (x index) size() int { return x.m.Size() }

// A loc is where an entry lives, packed in 64 bits:
//
//	bits 63..48  slot: which segment of the shard's table (16 bits)
//	bits 47..24  gen:  the low 24 bits of that segment's generation
//	bits 23..0   off:  byte offset of the entry in the segment
//
// The generation tells a reader whether the segment now in the slot is the
// one the entry was written to. It wraps after 2^24 segments have passed
// through one slot; a reader would have to stall for that long between its
// index load and its slot load to be fooled, and even then the key compare
// and the immutability of published bytes keep it from reading a torn
// value (docs/design.md).
type loc uint64

const (
	genBits  = 24
	genMask  = 1<<genBits - 1
	offBits  = 24
	offMask  = 1<<offBits - 1
	maxSlots = 1 << 16
)

func makeLoc(slot int, gen uint32, off int) loc {
	return loc(uint64(slot)<<48 | uint64(gen&genMask)<<offBits | uint64(off))
}

func (l loc) slot() int   { return int(l >> 48) }
func (l loc) gen() uint32 { return uint32(l>>offBits) & genMask }
func (l loc) off() int    { return int(l & offMask) }
