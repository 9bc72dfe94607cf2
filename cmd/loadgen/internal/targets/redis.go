package targets

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultRedisAddr is -redis-addr's default: the Redis server the "redis"
// target and the Redis latency comparison talk to (host:port).
//
// loadgen writes its keys ("user:%08d") into that server's current
// database (DB 0) and leaves them there: it never flushes, because the
// server may hold someone's data. Point it at a scratch server, e.g.
//
//	redis-server --port 6379 --save '' --appendonly no
const DefaultRedisAddr = "127.0.0.1:6379"

// redisPingTimeout bounds the reachability check in open.
const redisPingTimeout = 2 * time.Second

func init() {
	register(target{
		name: "redis",
		about: "Redis at -redis-addr over TCP via go-redis v9 (pool 2 x max procs, min 10); " +
			"writes user:NNNNNNNN keys into DB 0 and flushes nothing; -capacity does not apply (the server's maxmemory does)",
		open: func(cfg Config) (Cache, error) { return openRedis(cfg.RedisAddr, redisPoolSize(cfg.Procs)) },
		// Bounded by the server's maxmemory, if at all, never by the
		// run's sizes: no bounded cache's peer.
		unbounded: true,
	})
}

// redisPoolSize is the connection pool for a run whose largest GOMAXPROCS
// setting is max(procs): two connections per goroutine, at least 10, so
// that no worker waits for a connection.
func redisPoolSize(procs []int) int {
	if len(procs) == 0 {
		return 10
	}
	return max(slices.Max(procs)*2, 10)
}

// NewRedisClient returns a go-redis client for addr with poolSize
// connections. It turns off the connect-time extras that a local Redis
// does not need (CLIENT SETINFO, maintenance notifications), so a fresh
// connection costs one HELLO round trip.
func NewRedisClient(addr string, poolSize int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                     addr,
		PoolSize:                 poolSize,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// PingRedis checks that a Redis answers at addr through client, and
// otherwise returns an error that says how to start one. It dials once by
// hand first: if nothing listens, that fails at once with a clear reason,
// where go-redis would retry the dial and log each failure.
func PingRedis(ctx context.Context, client *redis.Client, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return redisUnreachable(addr, err)
	}
	conn.Close()
	if err := client.Ping(ctx).Err(); err != nil {
		return redisUnreachable(addr, err)
	}
	return nil
}

// redisUnreachable is the error open returns when no Redis answers at addr.
func redisUnreachable(addr string, err error) error {
	port := "6379"
	if _, p, serr := net.SplitHostPort(addr); serr == nil && p != "" {
		port = p
	}
	return fmt.Errorf("cannot reach Redis at %s: %w; start one with: redis-server --port %s --save '' --appendonly no", addr, err, port)
}

// openRedis connects to the Redis at addr and checks that it answers.
func openRedis(addr string, poolSize int) (Cache, error) {
	client := NewRedisClient(addr, poolSize)
	if err := PingRedis(context.Background(), client, addr); err != nil {
		client.Close()
		return nil, err
	}
	return &redisCache{c: client, addr: addr}, nil
}

// redisCache is the "redis" target. The Cache interface has no room for
// errors on reads (and the workers drop those of writes), so a failed
// command counts as a miss here; close reports how many there were.
type redisCache struct {
	c    *redis.Client
	addr string

	errs     atomic.Uint64
	firstErr error
	errOnce  sync.Once
}

func (r *redisCache) fail(err error) {
	r.errOnce.Do(func() { r.firstErr = err })
	r.errs.Add(1) // after Do: a count > 0 means firstErr is set
}

func (r *redisCache) Read(dst []byte, key string) ([]byte, bool) {
	b, err := r.c.Get(context.Background(), key).Bytes()
	if err != nil {
		if err != redis.Nil {
			r.fail(err)
		}
		return dst, false
	}
	// b aliases go-redis's reply string; copy it out.
	return append(dst, b...), true
}

func (r *redisCache) Write(key string, value []byte, ttl time.Duration) error {
	if err := r.c.Set(context.Background(), key, value, ttl).Err(); err != nil {
		r.fail(err)
		return err
	}
	return nil
}

func (r *redisCache) Close() {
	if n := r.errs.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "loadgen: redis at %s: %d commands failed (reads counted as misses); first: %v\n", r.addr, n, r.firstErr)
	}
	r.c.Close()
}
