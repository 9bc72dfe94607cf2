package engine

import (
	"sync/atomic"
	"unsafe"
)

// A counter is a striped event counter for the read path. Each goroutine
// adds to the stripe its stack address hashes to, so goroutines running on
// different cores mostly write different cache lines; a sum over the
// stripes is the count. The engine makes 16 stripes per P, so that two
// running goroutines rarely share one (1 in 32 at GOMAXPROCS 2). Which
// stripe a goroutine picks only affects speed: every add is atomic, so no
// event is lost.
//
// xsync.Counter does the same with a per-P token from a sync.Pool; taking
// the token costs more than the add on a read path of tens of nanoseconds.
type counter struct {
	stripes []stripe
	shift   uint // 64 - log2(len(stripes)): stripe keeps the product's top bits
}

type stripe struct {
	n atomic.Uint64
	_ [56]byte // one stripe per cache line
}

// counterStripes is the stripes a counter has per P.
const counterStripes = 16

func newCounter(stripes int) counter {
	n, bits := 1, uint(0)
	for n < stripes {
		n *= 2
		bits++
	}
	return counter{stripes: make([]stripe, n), shift: 64 - bits}
}

// inc adds one. The address of a local variable identifies the calling
// goroutine's stack; converting it to a uintptr does not make it escape,
// and a stack that moves merely changes the stripe.
func (c *counter) inc() {
	var local byte
	c.stripes[c.stripe(uintptr(unsafe.Pointer(&local)))].n.Add(1)
}

// stripe maps a stack address to one of c's stripes.
func (c *counter) stripe(p uintptr) uintptr { return mixStack(p, c.shift) }

// mixStack maps a stack address to one of 2^(64-shift) stripes. Stacks
// start at least 2 KiB apart, at addresses that differ in a few bits only
// (stacks cut from one span differ by a multiple of their size), so the
// bits above 2 KiB are mixed (two multiplications by odd constants and a
// shift, as splitmix64 does) and the stripe taken from the top: two stacks
// any distance apart share a stripe with probability about 1/stripes. Two
// goroutines that share one slow each other's Gets down (by 30% at
// GOMAXPROCS 2 in a test that forced it). Low bits of the address,
// shifted and xored, are not enough: with 8 stripes they put two stacks
// 16 KiB apart on one stripe 7 times in 8.
func mixStack(p uintptr, shift uint) uintptr {
	x := uint64(p>>11) * 0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	return uintptr(x >> shift)
}

func (c *counter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
