package velo_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

// GetOrLoad fills the cache from a slower source on a miss. Concurrent
// misses on one key share one load, and with RefreshAhead a hit near expiry
// reloads the entry in the background instead of letting callers miss.
func ExampleCache_GetOrLoad() {
	c, err := velo.New(velo.Options{DefaultTTL: 10 * time.Minute, RefreshAhead: 0.1})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	// fetchUser stands for a database query. Its ctx carries the first
	// caller's values but not its deadline, so it bounds its own work.
	fetchUser := func(id string) func(context.Context) ([]byte, time.Duration, error) {
		return func(ctx context.Context) ([]byte, time.Duration, error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_ = ctx // the query would use it
			fmt.Println("querying", id)
			if id == "404" {
				return nil, 0, errors.New("no such user")
			}
			return []byte(`{"id":` + id + `}`), 0, nil // 0: DefaultTTL
		}
	}

	ctx := context.Background()
	for range 2 {
		v, err := c.GetOrLoad(ctx, "user:42", fetchUser("42"))
		fmt.Println(string(v), err)
	}
	// Errors are returned, not cached: the next call queries again.
	_, err = c.GetOrLoad(ctx, "user:404", fetchUser("404"))
	fmt.Println(err)
	// Output:
	// querying 42
	// {"id":42} <nil>
	// {"id":42} <nil>
	// querying 404
	// no such user
}

// A loader that finds nothing can say so for a while: five lookups of an
// id the origin does not have make one origin call.
func ExampleCache_GetOrLoad_notFound() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	calls := 0
	load := func(ctx context.Context) ([]byte, time.Duration, error) {
		calls++
		return nil, time.Minute, fmt.Errorf("user 404: %w", velo.ErrNotFound)
	}
	for range 5 {
		_, err := c.GetOrLoad(context.Background(), "user:404", load)
		fmt.Println(errors.Is(err, velo.ErrNotFound))
	}
	fmt.Println("origin calls:", calls, "negative hits:", c.Stats().NegativeHits)
	// Output:
	// true
	// true
	// true
	// true
	// true
	// origin calls: 1 negative hits: 4
}

// With StaleIfError, an origin outage serves the last value, past its
// expiry, with the failure visible as ErrStale.
func ExampleOptions_staleIfError() {
	clk := clock.NewManual(0)
	c, _ := velo.New(velo.Options{Clock: clk, StaleIfError: time.Hour})
	defer c.Close()
	ctx := context.Background()
	price := func(ctx context.Context) ([]byte, time.Duration, error) {
		return []byte("42.00"), time.Minute, nil
	}
	down := func(ctx context.Context) ([]byte, time.Duration, error) {
		return nil, 0, errors.New("pricing service unavailable")
	}
	v, err := c.GetOrLoad(ctx, "price:7", price)
	fmt.Println(string(v), err)

	clk.Advance(2 * time.Minute) // expired, and the origin is down
	v, err = c.GetOrLoad(ctx, "price:7", down)
	fmt.Println(string(v), errors.Is(err, velo.ErrStale))
	fmt.Println(err)
	// Output:
	// 42.00 <nil>
	// 42.00 true
	// velo: stale value served (expired 1m0s ago): pricing service unavailable
}
