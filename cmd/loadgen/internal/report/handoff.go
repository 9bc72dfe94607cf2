package report

import (
	"runtime"
	"slices"
	"sync/atomic"
	"time"
)

// Handoff measures how long a value written by one core takes to reach
// another: two goroutines pass a counter back and forth through one
// atomic word, each spinning until it sees the other's step, so a pass is
// a store on one core until a load on the other sees it, which moves the
// word's cache line between the cores (the spinning side holds a copy
// that the store must invalidate, then fetches the line). It returns the
// median time per pass over up to handoffBatches batches of
// handoffPasses, within handoffTime; 0 where fewer than two processors
// can run the goroutines at once, or where no batch finished in time (a
// machine so busy that the two rarely run together).
//
// A cache's writes on several cores wait for such transfers (the lines of
// a lock, a log's head, an index slot), so the figure explains how writes
// scale on a machine. On a VM it can change while a run goes on, when the
// host moves the VM's processors (docs/benchmarks.md, "Why writes do not
// scale here"), which is why the throughput table measures it before and
// after its cells.
func Handoff() time.Duration {
	if runtime.NumCPU() < 2 || runtime.GOMAXPROCS(0) < 2 {
		return 0
	}
	var w struct {
		_ [64]byte
		n atomic.Int64
		_ [56]byte // the word has its cache line to itself
	}
	const stop = -1
	deadline := time.Now().Add(handoffTime)
	// await spins until the word holds v, and reports false if the
	// deadline passes or the other goroutine stops first. It yields now
	// and then, so that the two goroutines still take turns when only
	// one processor is free.
	await := func(v int64) bool {
		for i := 1; ; i++ {
			switch n := w.n.Load(); {
			case n == v:
				return true
			case n == stop:
				return false
			}
			if i%1024 == 0 {
				if time.Now().After(deadline) {
					return false
				}
				runtime.Gosched()
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := int64(1); await(v); v += 2 {
			w.n.Store(v + 1)
		}
	}()
	var d []time.Duration
	var v int64
batches:
	for len(d) < handoffBatches {
		t0 := time.Now()
		for range handoffPasses / 2 {
			w.n.Store(v + 1)
			if !await(v + 2) {
				break batches
			}
			v += 2
		}
		d = append(d, time.Since(t0))
	}
	w.n.Store(stop)
	<-done
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2] / handoffPasses
}

// handoffPasses is a batch's passes (an even number: each round trip is
// two), handoffBatches the batches Handoff measures, and handoffTime the
// most it spends.
const (
	handoffPasses  = 2000
	handoffBatches = 9
	handoffTime    = 200 * time.Millisecond
)
