package velorueidis

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/velocache/velo"
)

// ClientOptions configure [NewClient].
type ClientOptions struct {
	// Redis is the rueidis client's configuration. Its NewCacheStoreFn
	// must be nil (NewClient sets it) and DisableCache false; its
	// OnInvalidations, if set, is still called.
	Redis rueidis.ClientOption

	// Store configures each connection's cache.
	Store Options

	// LocalTTL is the longest a value read from Redis is served from the
	// local copy (the client-side TTL of DoCache); a shorter TTL on the
	// Redis key shortens it. 0 means one minute.
	LocalTTL time.Duration

	// StaleIfError, if positive, lets GetOrLoad serve a key's last
	// verified value when Redis cannot be reached, for at most this long
	// after the value was last read from or written to Redis, with a
	// *velo.StaleError. 0 (the default) fails closed: GetOrLoad returns
	// Redis's error.
	StaleIfError time.Duration

	// StaleMaxBytes is the budget of the values kept for StaleIfError.
	// 0 means 16 MiB.
	StaleMaxBytes int64
}

// ClientStats are the counters of a [Client]: its stores' and its own.
type ClientStats struct {
	Stats // the connections' caches

	Loads       uint64 // load functions GetOrLoad called
	LoadErrors  uint64 // ... that returned an error or panicked
	SharedLoads uint64 // GetOrLoad calls that waited for another call's load instead of loading
	RedisErrors uint64 // GetOrLoad, Set and Delete calls that Redis failed (not counting misses)
	StaleServed uint64 // values served past a Redis error (StaleIfError)
}

// Client is a read-through cache for velo users whose data lives in
// Redis: a rueidis client with server-assisted client-side caching whose
// connections cache replies in velo ([Stores]). GetOrLoad reads a key
// through the local copy, loading and storing it in Redis on a miss;
// Set and Delete write Redis and drop the local copy before they return,
// so a process reads its own writes. Other processes' writes reach the
// local copies through Redis's invalidation messages.
type Client struct {
	rc       rueidis.Client
	stores   *Stores
	localTTL time.Duration
	staleFor time.Duration
	stale    *velo.Cache // last verified values (8-byte Unix ns + value); nil without StaleIfError

	mu    sync.Mutex
	loads map[string]*loadCall

	nLoads, loadErrors, sharedLoads, redisErrors, staleServed atomic.Uint64
}

// loadCall is a GetOrLoad call in progress for one key; callers for the same
// key wait on done.
type loadCall struct {
	done    chan struct{}
	waiters int // guarded by Client.mu
	val     []byte
	err     error
}

// NewClient connects to Redis with opts.Redis, caching replies in velo.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Redis.NewCacheStoreFn != nil {
		return nil, errors.New("velorueidis: ClientOptions.Redis.NewCacheStoreFn must be nil")
	}
	if opts.Redis.DisableCache {
		return nil, errors.New("velorueidis: ClientOptions.Redis.DisableCache must be false")
	}
	if opts.LocalTTL < 0 || opts.StaleIfError < 0 || opts.StaleMaxBytes < 0 {
		return nil, errors.New("velorueidis: negative duration or budget in ClientOptions")
	}
	stores, err := NewStores(opts.Store)
	if err != nil {
		return nil, err
	}
	c := &Client{
		stores:   stores,
		localTTL: opts.LocalTTL,
		staleFor: opts.StaleIfError,
		loads:    make(map[string]*loadCall),
	}
	if c.localTTL == 0 {
		c.localTTL = time.Minute
	}
	if c.staleFor > 0 {
		max := opts.StaleMaxBytes
		if max == 0 {
			max = 16 << 20
		}
		if c.stale, err = velo.New(velo.Options{MaxBytes: max}); err != nil {
			return nil, fmt.Errorf("velorueidis: stale copies: %w", err)
		}
	}
	ro := opts.Redis
	ro.NewCacheStoreFn = stores.NewCacheStore
	user := ro.OnInvalidations
	ro.OnInvalidations = func(keys []rueidis.RedisMessage) {
		// A key another process wrote is no longer a value to fall back
		// on. nil (a flush, or a connection that closed) keeps them: a
		// lost connection is what they are kept for.
		if c.stale != nil {
			for i := range keys {
				if k, err := keys[i].ToString(); err == nil {
					c.stale.Delete(k)
				}
			}
		}
		if user != nil {
			user(keys)
		}
	}
	if c.rc, err = rueidis.NewClient(ro); err != nil {
		if c.stale != nil {
			c.stale.Close()
		}
		return nil, err
	}
	return c, nil
}

// Redis returns the rueidis client, for commands GetOrLoad, Set and
// Delete do not cover. Its DoCache uses the same local copies. Writes
// made through it reach the local copies by the server's invalidation,
// not at once; call Stores().Invalidate after them to read them back at
// once.
func (c *Client) Redis() rueidis.Client { return c.rc }

// Stores returns the connections' caches.
func (c *Client) Stores() *Stores { return c.stores }

// Stats returns the client's counters and its stores'.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Stats:       c.stores.Stats(),
		Loads:       c.nLoads.Load(),
		LoadErrors:  c.loadErrors.Load(),
		SharedLoads: c.sharedLoads.Load(),
		RedisErrors: c.redisErrors.Load(),
		StaleServed: c.staleServed.Load(),
	}
}

// Close closes the rueidis client (its connections' caches close with
// them) and the stale copies. GetOrLoad calls under way fail.
func (c *Client) Close() {
	c.rc.Close()
	if c.stale != nil {
		c.stale.Close()
	}
}

// answer reads key through the local copy and Redis, and reports whether
// that answers the caller: with the value, or with what a Redis failure
// gives (see redisFailed). answered is false only when Redis holds no
// value for key, and the caller loads it.
func (c *Client) answer(ctx context.Context, key string) (v []byte, answered bool, err error) {
	v, err = c.get(ctx, key)
	switch {
	case err == nil:
		c.verified(key, v)
		return v, true, nil
	case rueidis.IsRedisNil(err):
		return nil, false, nil
	}
	v, err = c.redisFailed(key, err)
	return v, true, err
}

// get reads key through the local copy: a hit, or a GET to Redis whose
// reply is cached and tracked.
func (c *Client) get(ctx context.Context, key string) ([]byte, error) {
	v, err := c.rc.DoCache(ctx, c.rc.B().Get().Key(key).Cache(), c.localTTL).AsBytes()
	// AsBytes is a view of the reply, which callers that waited for the
	// same request share: copy it.
	return bytes.Clone(v), err
}

// GetOrLoad returns key's value from the local copy or Redis. When Redis
// has no value, it calls load once per key in this process at a time
// (concurrent callers for the key wait for that call and get its result),
// stores the value in Redis with ttl (0: no expiry) and returns it.
//
// When Redis fails (not a miss: unreachable, timed out, closed), GetOrLoad
// returns the error, unless ClientOptions.StaleIfError is set and it has a
// value for key verified within that window: it then returns that value
// with a *velo.StaleError (errors.Is(err, velo.ErrStale)) wrapping the
// error. A load error is returned as is, and nothing is stored; if
// storing the loaded value in Redis fails, that error is returned, and
// not the value.
//
// The load runs in the first caller's goroutine with its context; the
// callers waiting for it return when it ends or when their own context
// does. A load that panics panics in that goroutine, and the waiting
// callers get an error. The returned slice is the caller's own.
func (c *Client) GetOrLoad(ctx context.Context, key string, ttl time.Duration, load func(ctx context.Context, key string) ([]byte, error)) ([]byte, error) {
	if v, answered, err := c.answer(ctx, key); answered {
		return v, err
	}

	c.mu.Lock()
	if l := c.loads[key]; l != nil {
		l.waiters++
		c.mu.Unlock()
		c.sharedLoads.Add(1)
		select {
		case <-l.done:
			return l.result()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &loadCall{done: make(chan struct{})}
	c.loads[key] = l
	c.mu.Unlock()

	ok := false
	defer func() {
		if !ok { // load panicked
			l.val, l.err = nil, fmt.Errorf("velorueidis: load of %q panicked", key)
			c.loadErrors.Add(1)
		}
		c.mu.Lock()
		delete(c.loads, key)
		c.mu.Unlock()
		close(l.done)
	}()
	l.val, l.err = c.loadOnce(ctx, key, ttl, load)
	ok = true
	return l.result()
}

// result is what a caller of the load gets: its own copy of the value,
// and the error (a value comes with an error only when stale).
func (l *loadCall) result() ([]byte, error) {
	if l.err != nil && !errors.Is(l.err, velo.ErrStale) {
		return nil, l.err
	}
	return append([]byte(nil), l.val...), l.err
}

// loadOnce is the work of the caller that loads key: look again (a load
// that ended after this caller's GET may have stored it, and its Set
// dropped the local copy), else load and store.
func (c *Client) loadOnce(ctx context.Context, key string, ttl time.Duration, load func(context.Context, string) ([]byte, error)) ([]byte, error) {
	if v, answered, err := c.answer(ctx, key); answered {
		return v, err
	}
	c.nLoads.Add(1)
	v, err := load(ctx, key)
	if err != nil {
		c.loadErrors.Add(1)
		return nil, err
	}
	if err := c.Set(ctx, key, v, ttl); err != nil {
		return nil, fmt.Errorf("velorueidis: storing the loaded value of %q: %w", key, err)
	}
	return v, nil
}

// redisFailed returns err, or key's stale value with a *velo.StaleError.
func (c *Client) redisFailed(key string, err error) ([]byte, error) {
	c.redisErrors.Add(1)
	if c.stale == nil {
		return nil, err
	}
	buf, ok := c.stale.Get(key)
	if !ok || len(buf) < 8 {
		return nil, err
	}
	age := time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(buf))))
	if age > c.staleFor {
		return nil, err
	}
	c.staleServed.Add(1)
	return buf[8:], &velo.StaleError{Err: err, Age: age}
}

// verified records v as key's last verified value for StaleIfError. It
// writes only when the value changed or the record is an eighth of the
// window old, so that hits rarely write.
func (c *Client) verified(key string, v []byte) {
	if c.stale == nil {
		return
	}
	now := time.Now()
	fresh := false
	c.stale.View(key, func(old []byte) {
		if len(old) >= 8 && string(old[8:]) == string(v) {
			at := time.Unix(0, int64(binary.LittleEndian.Uint64(old)))
			fresh = now.Sub(at) < c.staleFor/8
		}
	})
	if fresh {
		return
	}
	buf := make([]byte, 8, 8+len(v))
	binary.LittleEndian.PutUint64(buf, uint64(now.UnixNano()))
	_ = c.stale.Set(key, append(buf, v...), c.staleFor) // too large: not kept
}

// Set stores value under key in Redis with ttl (0: no expiry), then drops
// the local copies of key, so that this process's next read of key sees
// value or a newer one. If Redis fails, the local copies are dropped all
// the same (the write may have happened) and the error is returned.
func (c *Client) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	b := c.rc.B().Set().Key(key).Value(rueidis.BinaryString(value))
	var err error
	if ttl > 0 {
		err = c.rc.Do(ctx, b.Px(ttl).Build()).Error()
	} else {
		err = c.rc.Do(ctx, b.Build()).Error()
	}
	c.stores.Invalidate(key)
	if err != nil {
		c.redisErrors.Add(1)
		if c.stale != nil {
			c.stale.Delete(key)
		}
		return err
	}
	c.verified(key, value)
	return nil
}

// Delete deletes key in Redis, then drops its local copies and its stale
// copy. If Redis fails, the copies are dropped all the same and the error
// is returned.
func (c *Client) Delete(ctx context.Context, key string) error {
	err := c.rc.Do(ctx, c.rc.B().Del().Key(key).Build()).Error()
	c.stores.Invalidate(key)
	if c.stale != nil {
		c.stale.Delete(key)
	}
	if err != nil {
		c.redisErrors.Add(1)
	}
	return err
}

// loadWaiters returns how many GetOrLoad calls wait for key's load now.
func (c *Client) loadWaiters(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.loads[key]; l != nil {
		return l.waiters
	}
	return 0
}
