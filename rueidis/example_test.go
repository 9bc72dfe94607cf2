package velorueidis_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/rueidis"
	"github.com/velocache/velo"
	velorueidis "github.com/velocache/velo/rueidis"
)

// A read-through cache over Redis: GetOrLoad serves the local copy,
// asks Redis on a local miss, and loads from the origin (once per key in
// the process) on a Redis miss. The example needs a Redis 6+ server on
// 127.0.0.1:6379, so it is compiled but not run by go test.
func ExampleClient() {
	c, err := velorueidis.NewClient(velorueidis.ClientOptions{
		Redis:        rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}},
		Store:        velorueidis.Options{MaxBytes: 64 << 20}, // per connection
		LocalTTL:     time.Minute,
		StaleIfError: 30 * time.Second, // opt in: serve the last verified value while Redis is down
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	loadUser := func(ctx context.Context, key string) ([]byte, error) {
		return []byte(`{"name":"Ada"}`), nil // the database query
	}
	v, err := c.GetOrLoad(ctx, "user:42", 10*time.Minute, loadUser)
	switch {
	case errors.Is(err, velo.ErrStale):
		log.Printf("Redis is down, serving a value verified %v ago", err.(*velo.StaleError).Age)
	case err != nil:
		log.Fatal(err) // fail closed
	}
	fmt.Println(string(v))

	// Writes go to Redis; this process reads them back at once, others
	// once Redis's invalidation reaches them.
	if err := c.Set(ctx, "user:42", []byte(`{"name":"Ada L."}`), 10*time.Minute); err != nil {
		log.Fatal(err)
	}
	s := c.Stats()
	fmt.Println(s.Hits, s.Misses, s.Invalidations, s.Velo.Entries)
}

// The store alone, for any rueidis client: DoCache and DoMultiCache
// replies are cached in velo, one cache per connection.
func ExampleStores() {
	stores, err := velorueidis.NewStores(velorueidis.Options{MaxBytes: 128 << 20})
	if err != nil {
		log.Fatal(err)
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:     []string{"127.0.0.1:6379"},
		NewCacheStoreFn: stores.NewCacheStore,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	v, err := client.DoCache(ctx, client.B().Hget().Key("user:42").Field("name").Cache(), time.Minute).ToString()
	fmt.Println(v, err, stores.Stats().Misses)
}
