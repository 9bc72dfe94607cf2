package engine

import "github.com/velocache/velo/arena"

// A loc is where an entry lives, packed in 64 bits, with the two facts a
// writer needs about the entry it replaces or removes without reading it:
// its queue in the eviction policy and its size.
//
//	bits 63..52  slot: which segment of the shard's table (12 bits)
//	bit  51      main: the entry is in the main queue, not the small one
//	bits 50..31  gen:  the low 20 bits of that segment's generation
//	bits 30..10  off:  the entry's byte offset / 8 (offsets are multiples
//	             of 8, and below arena.MaxSegmentBytes)
//	bits  9..0   size: arena.EntrySize / 8 for entries below 8 KiB, or
//	             bigSize, for which the size is read from the entry
//
// The generation tells a reader whether the segment now in the slot is the
// one the entry was written to. It wraps after 2^20 segments have passed
// through one slot (4 GiB of writes to one shard at the smallest segment
// size); a reader would have to stall that long between its index load and
// its slot load to be fooled, and even then it reads memory of a segment it
// holds, which the key compare rejects (docs/design.md).
//
// The size is what makes live-byte accounting cheap: an overwrite learns
// the old entry's size from the location the index hands back, where
// reading the old entry's header would cost a cache miss on every
// overwrite of a key not read lately. Entries of 8 KiB and more are rare
// and cost a copy far above that miss, so they are read.
type loc uint64

const (
	slotBits = 12
	genBits  = 20
	offBits  = 21
	sizeBits = 10

	sizeShift = 0
	offShift  = sizeShift + sizeBits
	genShift  = offShift + offBits
	mainShift = genShift + genBits
	slotShift = mainShift + 1

	genMask  = 1<<genBits - 1
	offMask  = 1<<offBits - 1
	sizeMask = 1<<sizeBits - 1
	mainBit  = loc(1) << mainShift
	maxSlots = 1 << slotBits

	// bigSize is the size code of an entry too large for the field.
	bigSize = sizeMask
)

// makeLoc packs a location. off must be a multiple of 8 below
// arena.MaxSegmentBytes; size is the entry's arena.EntrySize.
func makeLoc(slot int, gen uint32, off int, main bool, size int) loc {
	code := uint64(size / 8)
	if code >= bigSize {
		code = bigSize
	}
	l := loc(uint64(slot)<<slotShift | uint64(gen&genMask)<<genShift | uint64(off/8)<<offShift | code)
	if main {
		l |= mainBit
	}
	return l
}

// placeOf is the place (see loc.place) of the entry at off of the segment
// in slot with generation gen.
func placeOf(slot int, gen uint32, off int) loc { return makeLoc(slot, gen, off, false, 0) }

func (l loc) slot() int   { return int(l >> slotShift) }
func (l loc) gen() uint32 { return uint32(l>>genShift) & genMask }
func (l loc) off() int    { return int(l>>offShift&offMask) * 8 }
func (l loc) main() bool  { return l&mainBit != 0 }

// useLimit is the frequency up to which reads of the entry at l count
// (Segment.Touch). In the main queue it is MaxFreq: its CLOCK hand takes
// one each time it passes, and a read entry stays while it has any left.
// In the small queue it is 1: its hand asks only whether the entry was
// read since it was written (see evictOne), and sets the frequency to 0
// as the entry enters the main queue, so a count above 1 would tell it
// nothing. So a hot key's reads there write its entry at most once per
// Set (with MaxEntries, none: a Set of a key in the small queue starts it
// at 1). Each such write makes the reader wait for the line the writer
// just filled, and takes it from every other core that reads it.
func (l loc) useLimit() int {
	if l.main() {
		return arena.MaxFreq
	}
	return 1
}

// inQueueOf is l in the queue of o.
func (l loc) inQueueOf(o loc) loc { return l&^mainBit | o&mainBit }

// place is l without its queue and size: where the entry is, which no
// other entry ever shares (a slot's generations only grow).
func (l loc) place() loc { return l &^ (mainBit | sizeMask) }

// size returns the entry's arena.EntrySize, reading it from seg, the
// segment l points into, if the location does not hold it.
func (l loc) size(seg *arena.Segment) int {
	if c := int(l & sizeMask); c != bigSize {
		return c * 8
	}
	return l.bigSize(seg) // a call of its own, so that size inlines
}

// bigSize reads the size of the entry at l, too large for its location.
func (l loc) bigSize(seg *arena.Segment) int {
	_, k, v := seg.Entry(l.off())
	return arena.EntrySize(len(k), len(v))
}
