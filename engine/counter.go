package engine

import (
	"sync/atomic"
	"unsafe"
)

// A counter is a striped event counter for the read path. Each goroutine
// adds to the stripe its stack address hashes to, so goroutines running on
// different cores mostly write different cache lines; a sum over the
// stripes is the count. Which stripe a goroutine picks only affects speed:
// every add is atomic, so no event is lost.
//
// xsync.Counter does the same with a per-P token from a sync.Pool; taking
// the token costs more than the add on a read path of tens of nanoseconds.
type counter struct {
	stripes []stripe
	mask    uintptr
}

type stripe struct {
	n atomic.Uint64
	_ [56]byte // one stripe per cache line
}

func newCounter(stripes int) counter {
	n := 1
	for n < stripes {
		n *= 2
	}
	return counter{stripes: make([]stripe, n), mask: uintptr(n - 1)}
}

// inc adds one. The address of a local variable identifies the calling
// goroutine's stack; converting it to a uintptr does not make it escape,
// and a stack that moves merely changes the stripe.
func (c *counter) inc() {
	var local byte
	p := uintptr(unsafe.Pointer(&local))
	// Stacks start at least 2 KiB apart: mix the bits above that.
	i := (p>>11 ^ p>>17 ^ p>>23) & c.mask
	c.stripes[i].n.Add(1)
}

func (c *counter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
