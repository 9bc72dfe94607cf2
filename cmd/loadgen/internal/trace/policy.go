package trace

// Reference policies for -trace, computed offline from the whole trace: LRU,
// the baseline a policy should beat; a textbook CLOCK, the policy velo's
// design names; and Belady's optimal, which no policy that sees one access
// at a time can beat.

import (
	"fmt"
	"math"
)

// refTrace is a trace prepared for the reference policies: its keys
// renumbered 0..n-1 in order of first access, and for each access the
// position of the next access to the same key.
type refTrace struct {
	ids  []int32  // per access: the key's number
	keys []uint64 // per number: the key
	// next[i] is the position of the first access after i to the key of
	// access i, or len(ids) if there is none.
	next []int32
}

// newRefTrace numbers the keys of a trace of up to 2^31-2 accesses.
func newRefTrace(keys []uint64) (*refTrace, error) {
	if len(keys) > math.MaxInt32-1 {
		return nil, fmt.Errorf("trace of %d accesses: at most %d are supported", len(keys), math.MaxInt32-1)
	}
	t := &refTrace{ids: make([]int32, len(keys))}
	num := make(map[uint64]int32)
	for i, k := range keys {
		id, ok := num[k]
		if !ok {
			id = int32(len(t.keys))
			num[k] = id
			t.keys = append(t.keys, k)
		}
		t.ids[i] = id
	}
	t.next = make([]int32, len(keys))
	last := make([]int32, len(t.keys)) // per key: the next access seen so far, walking backwards
	for i := range last {
		last[i] = int32(len(keys))
	}
	for i := len(t.ids) - 1; i >= 0; i-- {
		id := t.ids[i]
		t.next[i] = last[id]
		last[id] = int32(i)
	}
	return t, nil
}

// distinct is the number of distinct keys.
func (t *refTrace) distinct() int { return len(t.keys) }

// lru returns the hits of an LRU cache of capacity entries that is read
// through: every access looks its key up, and a miss inserts it, evicting
// the least recently used key when the cache is full.
func (t *refTrace) lru(capacity int) int {
	if capacity <= 0 {
		return 0
	}
	l := newIDList(len(t.keys))
	size, hits := 0, 0
	for _, id := range t.ids {
		if l.in[id] {
			hits++
			l.moveToFront(id)
			continue
		}
		if size == capacity {
			l.remove(l.tail)
			size--
		}
		l.pushFront(id)
		size++
	}
	return hits
}

// lruBytes is lru with a capacity in bytes: sizes[i] is the size of access
// i's object (its size when first inserted counts), a miss evicts least
// recently used keys until the object fits, and an object larger than the
// whole cache is not inserted. It follows libCacheSim's LRU, whose
// published results on the oracleGeneral sample check the reader.
func (t *refTrace) lruBytes(sizes []uint32, capacity int64) int {
	l := newIDList(len(t.keys))
	size := make([]int64, len(t.keys))
	var used int64
	hits := 0
	for i, id := range t.ids {
		if l.in[id] {
			hits++
			l.moveToFront(id)
			continue
		}
		s := int64(sizes[i])
		if s > capacity {
			continue
		}
		for used+s > capacity {
			used -= size[l.tail]
			l.remove(l.tail)
		}
		size[id] = s
		used += s
		l.pushFront(id)
	}
	return hits
}

// clock returns the hits of a textbook CLOCK of capacity entries: the
// entries sit in a ring of capacity slots, a hit sets the entry's
// reference bit, and a miss advances the hand, clearing set bits, to the
// first entry whose bit is clear, which the new key replaces; the hand then
// moves past the new key, so it is the last one the hand reaches again.
// Hit for hit this is FIFO with reinsertion (second chance), the policy
// that velo's design names; it is here to tell a shortfall of that policy
// from one of velo's implementation of it.
func (t *refTrace) clock(capacity int) int {
	if capacity <= 0 {
		return 0
	}
	ring := make([]int32, 0, min(capacity, len(t.keys)))
	ref := make([]bool, 0, cap(ring))
	where := make([]int32, len(t.keys)) // per key: its slot, -1 when absent
	for i := range where {
		where[i] = -1
	}
	hand, hits := 0, 0
	for _, id := range t.ids {
		if p := where[id]; p >= 0 {
			hits++
			ref[p] = true
			continue
		}
		if len(ring) < capacity {
			where[id] = int32(len(ring))
			ring = append(ring, id)
			ref = append(ref, false)
			continue
		}
		for ref[hand] {
			ref[hand] = false
			if hand++; hand == len(ring) {
				hand = 0
			}
		}
		where[ring[hand]] = -1
		ring[hand], ref[hand], where[id] = id, false, int32(hand)
		if hand++; hand == len(ring) {
			hand = 0
		}
	}
	return hits
}

// idList is a doubly linked list of key numbers in arrays: no allocation
// per access, unlike container/list.
type idList struct {
	prev, next []int32
	in         []bool
	head, tail int32 // most and least recently used; -1 when empty
}

func newIDList(n int) *idList {
	return &idList{prev: make([]int32, n), next: make([]int32, n), in: make([]bool, n), head: -1, tail: -1}
}

func (l *idList) pushFront(id int32) {
	l.in[id] = true
	l.prev[id], l.next[id] = -1, l.head
	if l.head >= 0 {
		l.prev[l.head] = id
	} else {
		l.tail = id
	}
	l.head = id
}

func (l *idList) remove(id int32) {
	l.in[id] = false
	p, n := l.prev[id], l.next[id]
	if p >= 0 {
		l.next[p] = n
	} else {
		l.head = n
	}
	if n >= 0 {
		l.prev[n] = p
	} else {
		l.tail = p
	}
}

func (l *idList) moveToFront(id int32) {
	if l.head != id {
		l.remove(id)
		l.pushFront(id)
	}
}

// optimal returns the hits of Belady's MIN at capacity entries: on a miss
// the key is inserted and, if that puts the cache over capacity, the key
// whose next access is farthest away leaves, the new key included (then the
// miss simply bypasses the cache). This is the clairvoyant policy of
// Caffeine's simulator; it is optimal among all policies that may decline
// to cache a key, such as ristretto's admission filter. (The variant that
// must keep every missed key, evicting only among the others, as otter's
// simulator does, can only do as well or worse: on a b c a d b at capacity
// 2 it hits once, this one twice.)
//
// The residents are kept in a max-heap on their next access.
func (t *refTrace) optimal(capacity int) int {
	if capacity <= 0 {
		return 0
	}
	h := nextHeap{
		nextOf: make([]int32, len(t.keys)),
		pos:    make([]int32, len(t.keys)),
		heap:   make([]int32, 0, min(capacity, len(t.keys))),
	}
	for i := range h.pos {
		h.pos[i] = -1
	}
	hits := 0
	for i, id := range t.ids {
		nu := t.next[i]
		if p := h.pos[id]; p >= 0 {
			hits++
			h.nextOf[id] = nu // later than before: move towards the top
			h.up(int(p))
			continue
		}
		if len(h.heap) < capacity {
			h.push(id, nu)
			continue
		}
		if top := h.heap[0]; h.nextOf[top] > nu {
			h.pos[top] = -1
			h.heap[0], h.pos[id], h.nextOf[id] = id, 0, nu
			h.down(0)
		}
		// Otherwise the new key is needed last of all: it is not kept.
	}
	return hits
}

// nextHeap is a max-heap of key numbers ordered by nextOf.
type nextHeap struct {
	nextOf []int32 // per key: its next access
	pos    []int32 // per key: its index in heap, -1 when absent
	heap   []int32
}

func (h *nextHeap) push(id, next int32) {
	h.nextOf[id] = next
	h.pos[id] = int32(len(h.heap))
	h.heap = append(h.heap, id)
	h.up(len(h.heap) - 1)
}

func (h *nextHeap) swap(i, j int) {
	h.heap[i], h.heap[j] = h.heap[j], h.heap[i]
	h.pos[h.heap[i]], h.pos[h.heap[j]] = int32(i), int32(j)
}

func (h *nextHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.nextOf[h.heap[p]] >= h.nextOf[h.heap[i]] {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *nextHeap) down(i int) {
	n := len(h.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.nextOf[h.heap[c+1]] > h.nextOf[h.heap[c]] {
			c++
		}
		if h.nextOf[h.heap[i]] >= h.nextOf[h.heap[c]] {
			return
		}
		h.swap(i, c)
		i = c
	}
}

// clockBytes is clock with a capacity in bytes: FIFO with reinsertion
// (second chance), which is what CLOCK is hit for hit. weights[i] is the
// size of access i's entry (its size when inserted counts). A miss takes
// entries from the head of the queue until the new one fits: one whose
// bit is set has it cleared and goes to the tail, one whose bit is clear
// leaves. An entry larger than the whole cache is not inserted.
func (t *refTrace) clockBytes(weights []uint32, capacity int64) int {
	n := len(t.keys)
	q := make([]int32, n) // a ring: every key is in it at most once
	head, count := 0, 0
	in := make([]bool, n)
	ref := make([]bool, n)
	size := make([]int64, n)
	var used int64
	hits := 0
	for i, id := range t.ids {
		if in[id] {
			hits++
			ref[id] = true
			continue
		}
		s := int64(weights[i])
		if s > capacity {
			continue
		}
		for used+s > capacity {
			v := q[head]
			if head++; head == n {
				head = 0
			}
			count--
			if ref[v] {
				ref[v] = false
				q[(head+count)%n] = v
				count++
				continue
			}
			in[v] = false
			used -= size[v]
		}
		q[(head+count)%n] = id
		count++
		in[id], ref[id], size[id] = true, false, s
		used += s
	}
	return hits
}

// optimalBytes is Belady's rule with a capacity in bytes: a miss inserts
// the entry (weights[i] bytes) unless it is never accessed again or larger
// than the cache, then evicts the entries whose next access is farthest
// away, the new one among them, until the cache fits. With entries of
// different sizes this is a heuristic, not the optimum (finding that is
// NP-hard): it is the reference to approach, not a bound no policy can
// pass.
func (t *refTrace) optimalBytes(weights []uint32, capacity int64) int {
	h := nextHeap{
		nextOf: make([]int32, len(t.keys)),
		pos:    make([]int32, len(t.keys)),
	}
	for i := range h.pos {
		h.pos[i] = -1
	}
	size := make([]int64, len(t.keys))
	var used int64
	hits := 0
	for i, id := range t.ids {
		nu := t.next[i]
		if p := h.pos[id]; p >= 0 {
			hits++
			h.nextOf[id] = nu
			h.up(int(p))
			continue
		}
		s := int64(weights[i])
		if s > capacity || int(nu) == len(t.ids) {
			continue
		}
		h.push(id, nu)
		size[id] = s
		used += s
		for used > capacity {
			used -= size[h.pop()]
		}
	}
	return hits
}

// pop removes the key whose next access is farthest and returns it.
func (h *nextHeap) pop() int32 {
	top := h.heap[0]
	last := len(h.heap) - 1
	h.swap(0, last)
	h.heap = h.heap[:last]
	h.pos[top] = -1
	if last > 0 {
		h.down(0)
	}
	return top
}
