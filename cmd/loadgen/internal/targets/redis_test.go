package targets

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/redistest"
)

func TestRedisPoolSize(t *testing.T) {
	for _, tc := range []struct {
		procs []int
		want  int
	}{{nil, 10}, {[]int{1, 2, 4}, 10}, {[]int{5}, 10}, {[]int{16, 8}, 32}} {
		if got := redisPoolSize(tc.procs); got != tc.want {
			t.Errorf("redisPoolSize(%v) = %d, want %d", tc.procs, got, tc.want)
		}
	}
}

func TestRedisTargetRoundTrip(t *testing.T) {
	addr := redistest.Start(t)
	cfg := Config{Procs: []int{1, 2}, Keys: 100, ValueSize: 64, Capacity: 1 << 20, TTL: time.Minute, RedisAddr: addr}
	c, err := Open("redis", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	value := func(i int) []byte {
		v := make([]byte, cfg.ValueSize)
		for j := range v {
			v[j] = byte(i + j) // every byte value, including 0 and 0xff
		}
		return v
	}
	for i := range cfg.Keys {
		if err := c.Write(fmt.Sprintf("user:%08d", i), value(i), cfg.TTL); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	buf := make([]byte, 0, cfg.ValueSize)
	for i := range cfg.Keys {
		key := fmt.Sprintf("user:%08d", i)
		got, ok := c.Read(buf[:0], key)
		if !ok || !bytes.Equal(got, value(i)) {
			t.Fatalf("read %s = %x, %v; want %x", key, got, ok, value(i))
		}
	}
	// The value is appended to dst.
	if got, ok := c.Read([]byte("pre-"), "user:00000007"); !ok || !bytes.Equal(got, append([]byte("pre-"), value(7)...)) {
		t.Errorf("read into a non-empty dst = %q, %v", got, ok)
	}
	if got, ok := c.Read(buf[:0], "loadgen-test:absent"); ok || len(got) != 0 {
		t.Errorf("read of an absent key = %q, %v; want a miss", got, ok)
	}
	// The TTL reached the server.
	rc := c.(*redisCache)
	ttl, err := rc.c.PTTL(context.Background(), "user:00000000").Result()
	if err != nil || ttl <= 0 || ttl > cfg.TTL {
		t.Errorf("PTTL = %v, %v; want in (0, %v]", ttl, err, cfg.TTL)
	}
	if n := rc.errs.Load(); n != 0 {
		t.Errorf("%d commands failed", n)
	}
}

func TestRedisTargetUnreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
	start := time.Now()
	c, err := Open("redis", Config{Procs: []int{1}, Keys: 10, ValueSize: 8, RedisAddr: addr})
	if err == nil {
		c.Close()
		t.Fatalf("open against %s (nothing listening) succeeded", addr)
	}
	msg := err.Error()
	for _, want := range []string{"cannot reach Redis at " + addr, "redis-server --port " + addr[strings.LastIndex(addr, ":")+1:], "--save '' --appendonly no"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if d := time.Since(start); d > 3*redisPingTimeout {
		t.Errorf("open took %v to give up", d)
	}
}
