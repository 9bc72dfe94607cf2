package engine

import "math/bits"

// A sketch estimates how often each key hash was seen lately: a count-min
// sketch of 4-bit counters, four per key, after TinyLFU (Einziger et al.,
// "TinyLFU: A Highly Efficient Cache Admission Policy", 2017) and
// Caffeine's FrequencySketch. When the additions reach ten times the
// counters' words, every counter is halved, so old popularity fades. It
// holds no pointers: one uint64 (16 counters) per entry of capacity.
type sketch struct {
	table []uint64
	shift uint // 64 - log2(len(table))
	adds  int
	reset int // halve every counter after this many additions
	max   int // the largest len(table): capacity rounded up to a power of two
}

// sketchStart is the most words a sketch starts with; it grows as entries
// arrive (see fit), so that a large MaxEntries costs nothing until the
// cache holds that many entries.
const sketchStart = 1024

// init sizes the sketch for capacity keys: one word each, allocated as
// the entries come (see fit).
func (s *sketch) init(capacity int) {
	s.max = 1 << bits.Len(uint(max(capacity, 16)-1))
	s.alloc(min(s.max, sketchStart))
}

// alloc replaces the table with an empty one of n words, a power of two.
func (s *sketch) alloc(n int) {
	s.table = make([]uint64, n)
	s.shift = uint(64 - bits.TrailingZeros(uint(n)))
	s.adds, s.reset = 0, 10*n
}

// fit grows the table when entries, the keys the shard holds, outgrow it:
// to the next power of two at least twice its size, up to max. The counts
// start over, as in Caffeine's sketch, which grows the same way: while a
// cache fills, what the counts knew is young anyway.
func (s *sketch) fit(entries int) {
	if entries <= len(s.table) || len(s.table) >= s.max {
		return
	}
	n := min(s.max, 1<<bits.Len(uint(max(entries, 2*len(s.table))-1)))
	s.alloc(n)
}

// slot returns the word and the shift of counter i (0..3) of h. Each
// counter's word is picked by its own multiplicative hash of h; within the
// word, 4 low bits of h pick which of the 16 counters.
func (s *sketch) slot(h uint64, i int) (*uint64, uint) {
	w := (h + uint64(i)*0x9e3779b97f4a7c15) * 0x94d049bb133111eb >> s.shift
	return &s.table[w], uint(h>>(4*i)&15) * 4
}

// estimate returns the smallest of h's counters: 0..15.
func (s *sketch) estimate(h uint64) int {
	if s.table == nil {
		return 0
	}
	f := 15
	for i := range 4 {
		w, sh := s.slot(h, i)
		f = min(f, int(*w>>sh&15))
	}
	return f
}

// add counts one more sighting of h.
func (s *sketch) add(h uint64) {
	if s.table == nil {
		return
	}
	for i := range 4 {
		if w, sh := s.slot(h, i); *w>>sh&15 < 15 {
			*w += 1 << sh
		}
	}
	if s.adds++; s.adds >= s.reset {
		for i, w := range s.table {
			s.table[i] = w >> 1 & 0x7777777777777777
		}
		s.adds /= 2
	}
}

// subtract takes back one sighting of h, as far as h's counters hold one:
// a key deleted or expired gives back the count its Set added (see
// shard.drop). A counter another key shares may lose a count of that key
// instead, as halving takes counts from every key.
func (s *sketch) subtract(h uint64) {
	if s.table == nil {
		return
	}
	for i := range 4 {
		if w, sh := s.slot(h, i); *w>>sh&15 > 0 {
			*w -= 1 << sh
		}
	}
}
