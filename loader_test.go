package velo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/clock"
)

func newLoaderCache(t *testing.T, opts Options) (*Cache, *clock.Clock) {
	t.Helper()
	clk := clock.NewManual(1e9)
	c, err := newTestCache(opts, clk)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, clk
}

// waiters returns the number of callers waiting for key's load, or -1 if
// none is in flight.
func waiters(c *Cache, key string) int {
	n := -1
	c.loads.calls.Compute(key, func(old *call, loaded bool) (*call, bool) {
		if loaded {
			n = old.waiters
		}
		return old, !loaded
	})
	return n
}

// eventually fails t unless cond holds within two seconds.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 2*time.Second, time.Millisecond, msg)
}

// blockingLoader returns a load function that counts its calls, reports
// each call's context on started, then waits for release (or its context)
// before returning value with ttl.
type blockingLoader struct {
	calls   atomic.Int32
	started chan context.Context
	release chan struct{}
	value   string
	ttl     time.Duration
}

func newBlockingLoader(value string) *blockingLoader {
	return &blockingLoader{started: make(chan context.Context, 16), release: make(chan struct{}), value: value}
}

func (b *blockingLoader) load(ctx context.Context) ([]byte, time.Duration, error) {
	b.calls.Add(1)
	b.started <- ctx
	select {
	case <-b.release:
		return []byte(b.value), b.ttl, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

type result struct {
	v   []byte
	err error
}

// goLoad calls GetOrLoad in a new goroutine and returns where its result
// will arrive.
func goLoad(c *Cache, ctx context.Context, key string, load loadFunc) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := c.GetOrLoad(ctx, key, load)
		ch <- result{v, err}
	}()
	return ch
}

// recv returns the result from ch, failing t if it takes over two seconds.
func recv(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * time.Second):
		t.Fatal("GetOrLoad did not return")
		return result{}
	}
}

func TestGetOrLoadSingleflight(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	b := newBlockingLoader("value")
	const n = 32
	var results [n]<-chan result
	for i := range results {
		results[i] = goLoad(c, context.Background(), "k", b.load)
	}
	eventually(t, func() bool { return waiters(c, "k") == n }, "all callers wait for one load")
	close(b.release)

	var got [n][]byte
	for i := range results {
		r := recv(t, results[i])
		require.NoError(t, r.err)
		require.Equal(t, "value", string(r.v))
		got[i] = r.v
	}
	require.Equal(t, int32(1), b.calls.Load())
	require.Equal(t, -1, waiters(c, "k"), "the call left the map")

	// Each caller owns its slice.
	got[0][0] = 'X'
	for _, v := range got[1:] {
		require.Equal(t, "value", string(v))
	}
	v, ok := c.Get("k")
	require.True(t, ok)
	require.Equal(t, "value", string(v))

	// A hit returns the stored value without loading, and counts a hit.
	hits := c.Stats().Hits
	v, err := c.GetOrLoad(context.Background(), "k", b.load)
	require.NoError(t, err)
	require.Equal(t, "value", string(v))
	require.Equal(t, int32(1), b.calls.Load())
	require.Equal(t, hits+1, c.Stats().Hits)
}

func TestGetOrLoadWaiterCancelled(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	b := newBlockingLoader("value")
	first := goLoad(c, context.Background(), "k", b.load)
	loadCtx := <-b.started

	ctx, cancel := context.WithCancel(context.Background())
	second := goLoad(c, ctx, "k", b.load)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "second caller joins")
	cancel()
	r := recv(t, second)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Nil(t, r.v)
	require.Equal(t, 1, waiters(c, "k"))
	require.NoError(t, loadCtx.Err(), "the load goes on for the first caller")

	close(b.release)
	r = recv(t, first)
	require.NoError(t, r.err)
	require.Equal(t, "value", string(r.v))
	v, ok := c.Get("k")
	require.True(t, ok)
	require.Equal(t, "value", string(v))
	require.Equal(t, int32(1), b.calls.Load())
}

func TestGetOrLoadFirstCallerCancelled(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	b := newBlockingLoader("value")
	type ctxKey struct{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), ctxKey{}, "trace-1"), time.Hour)
	first := goLoad(c, ctx, "k", b.load)
	loadCtx := <-b.started
	second := goLoad(c, context.Background(), "k", b.load)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "second caller joins")

	// The load keeps the first caller's values, not its deadline.
	require.Equal(t, "trace-1", loadCtx.Value(ctxKey{}))
	_, hasDeadline := loadCtx.Deadline()
	require.False(t, hasDeadline)

	cancel()
	require.ErrorIs(t, recv(t, first).err, context.Canceled)
	require.NoError(t, loadCtx.Err(), "the first caller leaving does not cancel the load")
	close(b.release)
	r := recv(t, second)
	require.NoError(t, r.err)
	require.Equal(t, "value", string(r.v))
	require.True(t, c.Has("k"))
}

func TestGetOrLoadAllWaitersGone(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	b := newBlockingLoader("value")
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	first := goLoad(c, ctx1, "k", b.load)
	loadCtx := <-b.started
	second := goLoad(c, ctx2, "k", b.load)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "second caller joins")
	cancel1()
	cancel2()
	require.ErrorIs(t, recv(t, first).err, context.Canceled)
	require.ErrorIs(t, recv(t, second).err, context.Canceled)

	// Nobody waits: the load is cancelled and forgotten, and the next
	// caller starts another.
	select {
	case <-loadCtx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the abandoned load was not cancelled")
	}
	require.Equal(t, -1, waiters(c, "k"))
	third := goLoad(c, context.Background(), "k", b.load)
	<-b.started
	close(b.release)
	r := recv(t, third)
	require.NoError(t, r.err)
	require.Equal(t, "value", string(r.v))
	require.Equal(t, int32(2), b.calls.Load())
}

func TestGetOrLoadAbandonedLoadStoresNothing(t *testing.T) {
	// A load whose every caller gave up ignores its cancellation and
	// returns a value after a newer load of the key stored one: the newer
	// value stays.
	c, _ := newLoaderCache(t, Options{})
	started, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	first := goLoad(c, ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
		close(started)
		<-release
		return []byte("old"), 0, nil
	})
	<-started
	cancel()
	require.ErrorIs(t, recv(t, first).err, context.Canceled)
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return []byte("new"), 0, nil
	})
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
	close(release)
	eventually(t, func() bool { return c.loads.running.Size() == 0 }, "the first load ends")
	v, ok := c.Get("k")
	require.True(t, ok)
	require.Equal(t, "new", string(v))
	require.Equal(t, uint64(2), c.Stats().Loads)
}

func TestGetOrLoadCancelledBeforeMiss(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	require.NoError(t, c.Set("hit", []byte("v"), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	load := func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte("loaded"), 0, nil
	}
	_, err := c.GetOrLoad(ctx, "miss", load)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, calls.Load(), "no load for a caller that has given up")
	v, err := c.GetOrLoad(ctx, "hit", load)
	require.NoError(t, err, "a hit needs no waiting")
	require.Equal(t, "v", string(v))
}

func TestGetOrLoadError(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	errBoom := errors.New("boom")
	var calls atomic.Int32
	release := make(chan struct{})
	failing := func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		<-release
		return []byte("ignored"), 0, errBoom
	}
	const n = 8
	var results [n]<-chan result
	for i := range results {
		results[i] = goLoad(c, context.Background(), "k", failing)
	}
	eventually(t, func() bool { return waiters(c, "k") == n }, "all callers wait for one load")
	close(release)
	for i := range results {
		r := recv(t, results[i])
		require.ErrorIs(t, r.err, errBoom)
		require.Nil(t, r.v)
	}
	require.Equal(t, int32(1), calls.Load())
	require.False(t, c.Has("k"), "an error is not cached")

	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return []byte("ok"), 0, nil
	})
	require.NoError(t, err, "the next call loads again")
	require.Equal(t, "ok", string(v))
}

func TestGetOrLoadPanic(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	release := make(chan struct{})
	panicking := func(context.Context) ([]byte, time.Duration, error) {
		<-release
		panic("loader exploded")
	}
	first := goLoad(c, context.Background(), "k", panicking)
	second := goLoad(c, context.Background(), "k", panicking)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "both wait")
	close(release)
	for _, ch := range []<-chan result{first, second} {
		r := recv(t, ch)
		require.ErrorIs(t, r.err, ErrLoaderPanicked)
		var pe *PanicError
		require.ErrorAs(t, r.err, &pe)
		require.Equal(t, "loader exploded", pe.Value)
		require.Contains(t, string(pe.Stack), "TestGetOrLoadPanic", "the stack shows where it panicked")
		require.Contains(t, pe.Error(), "loader exploded")
	}
	require.False(t, c.Has("k"))

	// An error panic value can be matched too.
	errInner := errors.New("inner")
	_, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		panic(fmt.Errorf("wrapped: %w", errInner))
	})
	require.ErrorIs(t, err, ErrLoaderPanicked)
	require.ErrorIs(t, err, errInner)

	// runtime.Goexit (t.FailNow in a loader, say) does not wedge the key,
	// and counts as a failed load.
	failed := c.Stats().LoadErrors
	_, err = c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		runtime.Goexit()
		return nil, 0, nil
	})
	require.ErrorIs(t, err, errGoexit)
	require.Equal(t, failed+1, c.Stats().LoadErrors)

	// The key is not wedged: the next call loads.
	v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		return []byte("fine"), 0, nil
	})
	require.NoError(t, err)
	require.Equal(t, "fine", string(v))
}

func TestGetOrLoadTTL(t *testing.T) {
	c, clk := newLoaderCache(t, Options{DefaultTTL: time.Minute})
	var calls atomic.Int32
	loadWith := func(ttl time.Duration) loadFunc {
		return func(context.Context) ([]byte, time.Duration, error) {
			n := calls.Add(1)
			return fmt.Appendf(nil, "v%d", n), ttl, nil
		}
	}
	ctx := context.Background()

	v, err := c.GetOrLoad(ctx, "short", loadWith(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))
	ttl, ok := c.TTL("short")
	require.True(t, ok)
	require.InDelta(t, 10*time.Second, ttl, float64(50*time.Millisecond))

	v, err = c.GetOrLoad(ctx, "default", loadWith(0))
	require.NoError(t, err)
	require.Equal(t, "v2", string(v))
	ttl, ok = c.TTL("default")
	require.True(t, ok)
	require.InDelta(t, time.Minute, ttl, float64(200*time.Millisecond), "0 means DefaultTTL")

	clk.Advance(9 * time.Second)
	v, err = c.GetOrLoad(ctx, "short", loadWith(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, "v1", string(v), "still fresh")
	clk.Advance(2 * time.Second)
	v, err = c.GetOrLoad(ctx, "short", loadWith(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, "v3", string(v), "expired: loaded again")

	// A negative TTL is the loader's bug: an error, nothing cached.
	_, err = c.GetOrLoad(ctx, "neg", loadWith(-time.Second))
	require.ErrorIs(t, err, ErrInvalidTTL)
	require.False(t, c.Has("neg"))
}

func TestGetOrLoadTooLarge(t *testing.T) {
	c, _ := newLoaderCache(t, Options{MaxBytes: 1 << 20, Shards: 1, MaxValueBytes: 4096})
	var calls atomic.Int32
	big := bytes.Repeat([]byte("x"), 10000)
	load := func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		return big, 0, nil
	}
	for i := 1; i <= 2; i++ {
		v, err := c.GetOrLoad(context.Background(), "big", load)
		require.NoError(t, err, "the value is returned though it cannot be cached")
		require.Equal(t, big, v)
		require.False(t, c.Has("big"))
		require.Equal(t, int32(i), calls.Load())
	}
}

func TestGetOrLoadRefreshAhead(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan context.Context, 4)
	type ctxKey struct{}
	load := func(ctx context.Context) ([]byte, time.Duration, error) {
		n := calls.Add(1)
		if n > 1 {
			started <- ctx
			<-release
		}
		return fmt.Appendf(nil, "v%d", n), 10 * time.Second, nil
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "x")
	v, err := c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))

	// Far from expiry: a plain hit.
	clk.Advance(4 * time.Second)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))
	require.Equal(t, -1, waiters(c, "k"), "no refresh 6s before expiry")
	require.Equal(t, int32(1), calls.Load())

	// Within half the TTL of expiring: the hit returns the old value and
	// starts one refresh; hits meanwhile start no other.
	clk.Advance(2 * time.Second)
	hitCtx, cancel := context.WithCancel(ctx)
	v, err = c.GetOrLoad(hitCtx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", string(v))
	cancel() // the refresh does not depend on the caller that started it
	refreshCtx := <-started
	require.Equal(t, "x", refreshCtx.Value(ctxKey{}))
	for range 10 {
		v, err = c.GetOrLoad(ctx, "k", load)
		require.NoError(t, err)
		require.Equal(t, "v1", string(v))
	}
	require.Equal(t, int32(2), calls.Load())
	require.NoError(t, refreshCtx.Err())

	close(release)
	eventually(t, func() bool { return waiters(c, "k") == -1 }, "the refresh finishes")
	v, ok := c.Get("k")
	require.True(t, ok)
	require.Equal(t, "v2", string(v))
	ttl, _ := c.TTL("k")
	require.InDelta(t, 10*time.Second, ttl, float64(50*time.Millisecond), "the refresh stored a fresh TTL")
	v, err = c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "v2", string(v))
	require.Equal(t, int32(2), calls.Load(), "a fresh entry is not refreshed")

	// Entries without a TTL are never refreshed.
	require.NoError(t, c.Set("forever", []byte("f"), 0))
	clk.Advance(time.Hour)
	_, err = c.GetOrLoad(ctx, "forever", load)
	require.NoError(t, err)
	require.Equal(t, -1, waiters(c, "forever"))
}

func TestGetOrLoadRefreshFailureKeepsValue(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	require.NoError(t, c.Set("k", []byte("old"), 10*time.Second))
	clk.Advance(6 * time.Second)
	for _, load := range []loadFunc{
		func(context.Context) ([]byte, time.Duration, error) { return nil, 0, errors.New("backend down") },
		func(context.Context) ([]byte, time.Duration, error) { panic("refresh exploded") },
	} {
		v, err := c.GetOrLoad(context.Background(), "k", load)
		require.NoError(t, err)
		require.Equal(t, "old", string(v))
		eventually(t, func() bool { return waiters(c, "k") == -1 }, "the refresh finishes")
		v, ok := c.Get("k")
		require.True(t, ok, "a failed refresh leaves the entry")
		require.Equal(t, "old", string(v))
	}
	clk.Advance(5 * time.Second)
	require.False(t, c.Has("k"), "and lets it expire")
}

// A miss while a refresh runs waits for the refresh instead of loading.
func TestGetOrLoadMissJoinsRefresh(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	require.NoError(t, c.Set("k", []byte("old"), 10*time.Second))
	clk.Advance(6 * time.Second)
	b := newBlockingLoader("new")
	v, err := c.GetOrLoad(context.Background(), "k", b.load)
	require.NoError(t, err)
	require.Equal(t, "old", string(v))
	<-b.started
	clk.Advance(5 * time.Second) // the old entry expires

	ctx, cancel := context.WithCancel(context.Background())
	miss := goLoad(c, ctx, "k", b.load)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "the miss joins the refresh")
	cancel()
	require.ErrorIs(t, recv(t, miss).err, context.Canceled)
	require.Equal(t, 1, waiters(c, "k"), "a waiter leaving does not cancel a refresh")

	miss = goLoad(c, context.Background(), "k", b.load)
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "the miss joins the refresh")
	close(b.release)
	r := recv(t, miss)
	require.NoError(t, r.err)
	require.Equal(t, "new", string(r.v))
	require.Equal(t, int32(1), b.calls.Load())
}

func TestGetOrLoadCloseWaitsForLoads(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	require.NoError(t, c.Set("r", []byte("old"), 10*time.Second))
	clk.Advance(6 * time.Second)

	// A background refresh and a foreground load, both blocked until
	// their context is cancelled.
	var returned atomic.Int32
	started := make(chan struct{}, 2)
	stubborn := func(ctx context.Context) ([]byte, time.Duration, error) {
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // Close must wait for this
		returned.Add(1)
		return nil, 0, ctx.Err()
	}
	_, err := c.GetOrLoad(context.Background(), "r", stubborn)
	require.NoError(t, err)
	fg := goLoad(c, context.Background(), "f", stubborn)
	<-started
	<-started

	require.NoError(t, c.Close())
	require.Equal(t, int32(2), returned.Load(), "Close waited for both loads")
	r := recv(t, fg)
	require.ErrorIs(t, r.err, ErrClosed, "a load cancelled by Close reports it")
	require.ErrorIs(t, r.err, context.Canceled)
}

func TestGetOrLoadAfterClose(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	_, err = c.GetOrLoad(context.Background(), "k", nil)
	require.ErrorIs(t, err, errNilLoad)
	require.NoError(t, c.Close())

	called := false
	_, err = c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, time.Duration, error) {
		called = true
		return []byte("v"), 0, nil
	})
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, called)
	_, err = c.GetOrLoad(context.Background(), "k", nil)
	require.ErrorIs(t, err, errNilLoad)

	// A load that loses the race with Close fails its callers, not waits.
	cl, _ := newCall(context.Background())
	c.loads.calls.Store("late", cl)
	c.loads.start(c, context.Background(), "late", cl, nil)
	<-cl.done
	require.ErrorIs(t, cl.err, ErrClosed)
	require.Equal(t, -1, waiters(c, "late"))
}

// checksummed is key's value for the given version: the key, the version
// and a CRC of both, so that a value returned for the wrong key or torn
// shows.
func checksummed(key string, version int64) []byte {
	b := fmt.Appendf(nil, "%s|%d|", key, version)
	return fmt.Appendf(b, "%08x", crc32.ChecksumIEEE(b))
}

func checkValue(key string, v []byte) error {
	i := bytes.LastIndexByte(v, '|')
	if i < 0 || !bytes.HasPrefix(v, []byte(key+"|")) || fmt.Sprintf("%08x", crc32.ChecksumIEEE(v[:i+1])) != string(v[i+1:]) {
		return fmt.Errorf("key %q: bad value %q", key, v)
	}
	return nil
}

func TestGetOrLoadManyKeys(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20, RefreshAhead: 0.3})
	require.NoError(t, err)
	defer c.Close()

	var version atomic.Int64
	errFlaky := errors.New("flaky")
	load := func(key string) loadFunc {
		return func(context.Context) ([]byte, time.Duration, error) {
			n := version.Add(1)
			switch n % 50 {
			case 0:
				return nil, 0, errFlaky
			case 1:
				panic("flaky panic")
			}
			// Short TTLs on the real clock, so entries expire and are
			// refreshed while the test runs.
			return checksummed(key, n), time.Duration(1+n%5) * time.Millisecond, nil
		}
	}

	const workers, ops, keys = 8, 2000, 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				key := fmt.Sprintf("key-%d", r.IntN(keys))
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(100))*time.Microsecond)
				}
				v, err := c.GetOrLoad(ctx, key, load(key))
				cancel()
				switch {
				case errors.Is(err, errFlaky), errors.Is(err, ErrLoaderPanicked), errors.Is(err, context.DeadlineExceeded):
				case err != nil:
					errs <- err
					return
				default:
					if err := checkValue(key, v); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Positive(t, version.Load())
	t.Logf("%d loads", version.Load())
}

func TestGetOrLoadNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewManual(1e9)
	c, err := newTestCache(Options{RefreshAhead: 0.5}, clk)
	require.NoError(t, err)

	// Loads that finish, one abandoned by its only caller, one blocked
	// until Close, and refreshes.
	ctx := context.Background()
	for i := range 10 {
		_, err := c.GetOrLoad(ctx, fmt.Sprint(i), func(context.Context) ([]byte, time.Duration, error) {
			return []byte("v"), 10 * time.Second, nil
		})
		require.NoError(t, err)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = c.GetOrLoad(short, "abandoned", func(ctx context.Context) ([]byte, time.Duration, error) {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	blocked := goLoad(c, ctx, "blocked", func(ctx context.Context) ([]byte, time.Duration, error) {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	})
	eventually(t, func() bool { return waiters(c, "blocked") == 1 }, "the load starts")
	clk.Advance(6 * time.Second)
	for i := range 10 {
		_, err := c.GetOrLoad(ctx, fmt.Sprint(i), func(ctx context.Context) ([]byte, time.Duration, error) {
			<-ctx.Done()
			return nil, 0, ctx.Err()
		})
		require.NoError(t, err)
		require.Equal(t, 1, waiters(c, fmt.Sprint(i)), "a refresh runs")
	}

	require.NoError(t, c.Close())
	require.ErrorIs(t, recv(t, blocked).err, ErrClosed)
	for i := 0; i < 1000 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, strings.TrimSpace(string(buf[:runtime.Stack(buf, true)])))
	}
}

// BenchmarkGetOrLoad measures GetOrLoad's hit path against Get, and the
// cost of a miss that loads (a goroutine per load, the singleflight map,
// the Set, a copy).
func BenchmarkGetOrLoad(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	value := make([]byte, 64)
	ctx := context.Background()
	load := func(context.Context) ([]byte, time.Duration, error) { return value, 0, nil }
	if err := c.Set("hit", value, 0); err != nil {
		b.Fatal(err)
	}
	b.Run("hit/Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c.Get("hit")
		}
	})
	b.Run("hit/GetOrLoad", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.GetOrLoad(ctx, "hit", load); err != nil {
				b.Fatal(err)
			}
		}
	})
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprint("miss-", i)
	}
	b.Run("miss/GetOrLoad", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := keys[i&(len(keys)-1)]
			if i&(len(keys)-1) == 0 {
				c.Clear()
			}
			if _, err := c.GetOrLoad(ctx, k, load); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A refresh that finishes after the key was Set or Deleted leaves the newer
// write alone.
func TestGetOrLoadRefreshYieldsToNewerWrites(t *testing.T) {
	for _, write := range []string{"set", "delete"} {
		t.Run(write, func(t *testing.T) {
			c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
			release := make(chan struct{})
			started := make(chan struct{}, 1)
			var calls atomic.Int32
			load := func(context.Context) ([]byte, time.Duration, error) {
				if calls.Add(1) > 1 {
					started <- struct{}{}
					<-release
					return []byte("reloaded"), 10 * time.Second, nil
				}
				return []byte("first"), 10 * time.Second, nil
			}
			ctx := context.Background()
			_, err := c.GetOrLoad(ctx, "k", load)
			require.NoError(t, err)
			clk.Advance(6 * time.Second)
			v, err := c.GetOrLoad(ctx, "k", load) // starts the refresh
			require.NoError(t, err)
			require.Equal(t, "first", string(v))
			<-started
			if write == "set" {
				require.NoError(t, c.Set("k", []byte("newer"), time.Minute))
			} else {
				require.True(t, c.Delete("k"))
			}
			close(release)
			eventually(t, func() bool { return waiters(c, "k") == -1 }, "the refresh finishes")
			v, ok := c.Get("k")
			if write == "set" {
				require.True(t, ok)
				require.Equal(t, "newer", string(v), "the refresh must not overwrite a newer Set")
			} else {
				require.False(t, ok, "the refresh must not undo a Delete")
			}
		})
	}
}

func TestGetOrLoadStats(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	ctx := context.Background()
	ok := func(context.Context) ([]byte, time.Duration, error) { return []byte("v"), 10 * time.Second, nil }
	boom := errors.New("boom")
	_, err := c.GetOrLoad(ctx, "a", ok)
	require.NoError(t, err)
	_, err = c.GetOrLoad(ctx, "b", func(context.Context) ([]byte, time.Duration, error) { return nil, 0, boom })
	require.ErrorIs(t, err, boom)
	_, err = c.GetOrLoad(ctx, "c", func(context.Context) ([]byte, time.Duration, error) { panic("x") })
	require.ErrorIs(t, err, ErrLoaderPanicked)
	clk.Advance(6 * time.Second)
	_, err = c.GetOrLoad(ctx, "a", ok) // a hit that starts a refresh
	require.NoError(t, err)
	eventually(t, func() bool { return waiters(c, "a") == -1 }, "the refresh finishes")
	s := c.Stats()
	require.Equal(t, uint64(4), s.Loads)
	require.Equal(t, uint64(2), s.LoadErrors)
	require.Equal(t, uint64(1), s.Refreshes)
}

// A refresh that ends after the entry it reloads expired still stores its
// value: only a write of the key meanwhile keeps it from storing. A miss
// after the expiry waits for the refresh, and the next call hits.
func TestGetOrLoadRefreshStoresAfterExpiry(t *testing.T) {
	c, clk := newLoaderCache(t, Options{RefreshAhead: 0.5})
	ctx := context.Background()
	require.NoError(t, c.Set("k", []byte("old"), 10*time.Second))
	clk.Advance(6 * time.Second)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var loads atomic.Int32
	load := func(context.Context) ([]byte, time.Duration, error) {
		if loads.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return []byte("new"), time.Minute, nil
	}
	v, err := c.GetOrLoad(ctx, "k", load) // starts the refresh
	require.NoError(t, err)
	require.Equal(t, "old", string(v))
	<-started
	clk.Advance(5 * time.Second) // the entry expires while the refresh runs
	got := make(chan string)
	go func() {
		v, _ := c.GetOrLoad(ctx, "k", load)
		got <- string(v)
	}()
	eventually(t, func() bool { return waiters(c, "k") == 2 }, "the miss joins the refresh")
	close(release)
	require.Equal(t, "new", <-got)
	v, err = c.GetOrLoad(ctx, "k", load)
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
	require.EqualValues(t, 1, loads.Load())
}

// gatedLoad returns a load function, for one call, that closes started,
// waits for release to be closed and returns value (or err) with a TTL of
// a minute.
func gatedLoad(value []byte, err error) (load loadFunc, started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	load = func(context.Context) ([]byte, time.Duration, error) {
		close(started)
		<-release
		return value, time.Minute, err
	}
	return load, started, release
}

// A write of the key while a load after a miss runs is newer than what the
// load read from the origin: the load's value goes to its callers but is
// not stored over the write. An invalidating Delete during the load must
// not be undone by the load's older value.
func TestGetOrLoadYieldsToWritesDuringLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(c *Cache) error
		want  string // the key's value after the load; "" for none
	}{
		{"Set", func(c *Cache) error { return c.Set("k", []byte("newer"), time.Minute) }, "newer"},
		{"Delete", func(c *Cache) error { c.Delete("k"); return nil }, ""},
		{"Clear", func(c *Cache) error { c.Clear(); return nil }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newLoaderCache(t, Options{})
			load, started, release := gatedLoad([]byte("loaded"), nil)
			got := make(chan string)
			go func() {
				v, err := c.GetOrLoad(context.Background(), "k", load)
				if err != nil {
					v = []byte(err.Error())
				}
				got <- string(v)
			}()
			<-started
			require.NoError(t, tc.write(c))
			close(release)
			require.Equal(t, "loaded", <-got, "the callers get what the load returned")
			v, ok := c.Get("k")
			if tc.want == "" {
				require.False(t, ok, "the load's value was stored over the %s: %q", tc.name, v)
			} else {
				require.True(t, ok)
				require.Equal(t, tc.want, string(v))
			}
		})
	}
}

// A negative result is not cached over a Set that came while the load ran.
func TestGetOrLoadAbsenceYieldsToSetDuringLoad(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	load, started, release := gatedLoad(nil, ErrNotFound)
	errc := make(chan error)
	go func() {
		_, err := c.GetOrLoad(context.Background(), "k", load)
		errc <- err
	}()
	<-started
	require.NoError(t, c.Set("k", []byte("newer"), time.Minute))
	close(release)
	<-errc
	v, ok := c.Get("k")
	require.True(t, ok, "the absence was cached over the Set")
	require.Equal(t, "newer", string(v))
}

// When a load fails but the key was written meanwhile, GetOrLoad returns
// the written value: the cache has one, and the failure was of a read
// older than it.
func TestGetOrLoadFailedLoadReturnsNewerWrite(t *testing.T) {
	c, _ := newLoaderCache(t, Options{})
	load, started, release := gatedLoad(nil, errors.New("origin down"))
	type result struct {
		v   string
		err error
	}
	got := make(chan result)
	go func() {
		v, err := c.GetOrLoad(context.Background(), "k", load)
		got <- result{string(v), err}
	}()
	<-started
	require.NoError(t, c.Set("k", []byte("newer"), time.Minute))
	close(release)
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, "newer", r.v)
	s := c.Stats()
	require.EqualValues(t, 1, s.Misses, "the look after the failure counts nothing")
	require.EqualValues(t, 0, s.Hits)
}

// A GetOrLoad that waits for a load already storing its value and then
// looks again counts one miss, not a miss and a hit.
func TestGetOrLoadCountsOneLookup(t *testing.T) {
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	c, clk := newLoaderCache(t, Options{ExpiryInterval: time.Hour, OnRemove: func(key string, _ []byte, r Reason) {
		if r == Expired && hold.CompareAndSwap(true, false) {
			close(entered) // in the load's goroutine, its value stored
			<-release
		}
	}})
	ctx := context.Background()
	require.NoError(t, c.Set("k", []byte("old"), time.Second))
	clk.Advance(2 * time.Second)
	hold.Store(true)
	loadA := func(context.Context) ([]byte, time.Duration, error) { return []byte("a"), 0, nil }
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		_, _ = c.GetOrLoad(ctx, "k", loadA)
	}()
	<-entered
	require.True(t, c.Delete("k"))
	before := c.Stats()
	got := make(chan string)
	go func() {
		v, _ := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, time.Duration, error) {
			return []byte("b"), 0, nil
		})
		got <- string(v)
	}()
	eventually(t, func() bool { return c.Stats().Misses > before.Misses }, "the second call misses")
	require.NoError(t, c.Set("k", []byte("v2"), 0))
	close(release)
	require.Equal(t, "v2", <-got)
	<-doneA
	after := c.Stats()
	require.Equal(t, before.Misses+1, after.Misses)
	require.Equal(t, before.Hits, after.Hits, "the look after the wait counted a hit")
}
