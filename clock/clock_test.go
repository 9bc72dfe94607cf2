package clock

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestManual(t *testing.T) {
	c := NewManual(100)
	require.Equal(t, int64(100), c.Now())
	require.Equal(t, int64(100+int64(time.Second)), c.Advance(time.Second))
	c.Set(5)
	require.Equal(t, int64(5), c.Now())
	Release(c) // a no-op, must not panic
}

func TestCoarseMovesAndStops(t *testing.T) {
	before := runtime.NumGoroutine()
	c := Acquire()
	c2 := Acquire()
	require.Same(t, c, c2, "the coarse clock is shared")
	start := c.Now()
	require.Greater(t, start, int64(0))
	require.Eventually(t, func() bool { return c.Now() > start }, 5*time.Second, time.Millisecond)

	// The coarse clock lags real time by at most a few resolutions here.
	lag := int64(time.Since(base)) - c.Now()
	require.Less(t, lag, int64(time.Second), "coarse clock lags by %v", time.Duration(lag))

	Release(c)
	require.True(t, running(), "one holder is left")
	Release(c2)
	require.False(t, running())
	// Release waited for the goroutine to close done; give it a moment to
	// finish returning.
	for i := 0; i < 1000 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before)

	require.Panics(t, func() { Release(c) }, "unbalanced Release")
	require.Panics(t, func() { c.Set(1) })
	require.Panics(t, func() { c.Advance(1) })
}

func TestCoarseRestart(t *testing.T) {
	// Acquire after the last Release starts a fresh goroutine whose time is
	// current, not the value the last run stopped at.
	c := Acquire()
	Release(c)
	time.Sleep(20 * time.Millisecond)
	c = Acquire()
	defer Release(c)
	lag := int64(time.Since(base)) - c.Now()
	require.Less(t, lag, int64(15*time.Millisecond))
}

func BenchmarkNow(b *testing.B) {
	c := Acquire()
	defer Release(c)
	var sink int64
	for i := 0; i < b.N; i++ {
		sink += c.Now()
	}
	_ = sink
}

func BenchmarkTimeNow(b *testing.B) {
	var sink int64
	for i := 0; i < b.N; i++ {
		sink += time.Now().UnixNano()
	}
	_ = sink
}

func TestFunc(t *testing.T) {
	var now atomic.Int64
	c := Func(now.Load)
	now.Store(42)
	if got := c.Now(); got != 42 {
		t.Fatalf("Now = %d, want 42", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Advance on a Func clock did not panic")
		}
	}()
	c.Advance(time.Second)
}
