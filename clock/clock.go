// Package clock provides a coarse, monotonic clock that is cheap to read on a
// hot path.
//
// Reading time.Now costs tens of nanoseconds; reading a Clock is one atomic
// load. The price is precision: a coarse Clock lags real time by up to its
// resolution (Resolution, 1 ms) plus however long the ticking goroutine waits
// to be scheduled, which grows when every P is busy.
//
// The time a Clock reports is nanoseconds on a monotonic scale that starts
// near zero when the process first uses the package. It is immune to wall
// clock jumps and means nothing outside this process: use it for deadlines
// and durations only.
//
// Tests drive time by hand with NewManual instead of sleeping; Func wraps a
// time source of the caller's own.
//
// Who imports it: packages engine and velo, and programs that pass a
// manual clock to velo.Options.Clock in their tests.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Resolution is how often the shared coarse clock stores the time.
const Resolution = time.Millisecond

// base anchors the monotonic scale. time.Since(base) reads the monotonic
// clock, so the scale never jumps when the wall clock is set.
var base = time.Now()

// A Clock reports the time in nanoseconds on this package's monotonic scale.
// Its methods are safe for concurrent use.
type Clock struct {
	// now is written by the ticking goroutine (or by Set/Advance for a
	// manual clock) and read by every caller of Now. It only moves forward
	// for a coarse clock.
	now    atomic.Int64
	manual bool
	// source, set by Func, is called by Now instead of reading now.
	source func() int64
}

// Now returns the current time in nanoseconds: one atomic load (or, for a
// clock made by Func, a call of its function).
func (c *Clock) Now() int64 {
	if c.source != nil {
		return c.source()
	}
	return c.now.Load()
}

// Func returns a clock whose Now calls now: a time source of the caller's
// own, such as a test's fake clock. now must be safe for concurrent use
// and must not go backwards. Set and Advance panic on it.
func Func(now func() int64) *Clock {
	return &Clock{source: now}
}

// NewManual returns a clock that stands still at start until the test moves
// it with Set or Advance. No goroutine is started; Release is not needed.
func NewManual(start int64) *Clock {
	c := &Clock{manual: true}
	c.now.Store(start)
	return c
}

// Set moves a manual clock to t. It panics on a coarse clock, whose time is
// not the caller's to set.
func (c *Clock) Set(t int64) {
	if !c.manual {
		panic("clock: Set on a coarse clock")
	}
	c.now.Store(t)
}

// Advance moves a manual clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) int64 {
	if !c.manual {
		panic("clock: Advance on a coarse clock")
	}
	return c.now.Add(int64(d))
}

// The shared coarse clock: one per process, ticking only while someone holds
// it. mu protects users and stop.
var shared struct {
	mu    sync.Mutex
	users int
	stop  chan struct{}
	done  chan struct{}
	clock Clock
}

// Acquire returns the process-wide coarse clock, starting its goroutine if
// this is the first holder. Every Acquire must be paired with one Release.
func Acquire() *Clock {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.users++
	if shared.users == 1 {
		// Store the time before returning, so that the first reader never
		// sees a stale value left from an earlier run of the goroutine.
		shared.clock.now.Store(int64(time.Since(base)))
		shared.stop = make(chan struct{})
		shared.done = make(chan struct{})
		go tick(&shared.clock, shared.stop, shared.done)
	}
	return &shared.clock
}

// Release gives back a clock from Acquire. When the last holder releases it,
// the ticking goroutine stops before Release returns. Releasing a manual
// clock does nothing.
func Release(c *Clock) {
	if c == nil || c.manual {
		return
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.users == 0 {
		panic("clock: Release without Acquire")
	}
	shared.users--
	if shared.users == 0 {
		close(shared.stop)
		<-shared.done
	}
}

// running reports whether the shared clock's goroutine runs (for tests).
func running() bool {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.users > 0
}

func tick(c *Clock, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(Resolution)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.now.Store(int64(time.Since(base)))
		}
	}
}
