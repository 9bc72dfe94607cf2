package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startRedis starts a throwaway redis-server on a free loopback port (no
// persistence, its files in a temporary directory), waits until it answers
// PING, and returns its address. The server is killed, and waited for,
// when the test ends. Without redis-server in PATH the test is skipped.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (apt-get install -y redis-server); skipping")
	}
	// The port is free when picked but could be taken before the server
	// binds it; try a few.
	var errs []string
	for range 3 {
		addr, err := tryStartRedis(t, bin)
		if err == nil {
			return addr
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("could not start redis-server:\n%s", strings.Join(errs, "\n"))
	return ""
}

func tryStartRedis(t *testing.T, bin string) (string, error) {
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill() // fails harmlessly if it already exited
		<-exited
	}
	t.Cleanup(stop)

	client := newRedisClient(addr, 1)
	defer client.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// pingRedis dials by hand first, so go-redis does not log the
		// refused dials while the server starts.
		err := pingRedis(context.Background(), client, addr)
		if err == nil {
			return addr, nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server on port %d exited: %s", port, out)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			out, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server on port %d did not answer PING within 5s: %v\n%s", port, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

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
	addr := startRedis(t)
	cfg := config{Procs: []int{1, 2}, Keys: 100, ValueSize: 64, Capacity: 1 << 20, TTL: time.Minute, RedisAddr: addr}
	c, err := openTarget("redis", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	value := func(i int) []byte {
		v := make([]byte, cfg.ValueSize)
		for j := range v {
			v[j] = byte(i + j) // every byte value, including 0 and 0xff
		}
		return v
	}
	for i := range cfg.Keys {
		if err := c.write(fmt.Sprintf("user:%08d", i), value(i), cfg.TTL); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	buf := make([]byte, 0, cfg.ValueSize)
	for i := range cfg.Keys {
		key := fmt.Sprintf("user:%08d", i)
		got, ok := c.read(buf[:0], key)
		if !ok || !bytes.Equal(got, value(i)) {
			t.Fatalf("read %s = %x, %v; want %x", key, got, ok, value(i))
		}
	}
	// The value is appended to dst.
	if got, ok := c.read([]byte("pre-"), "user:00000007"); !ok || !bytes.Equal(got, append([]byte("pre-"), value(7)...)) {
		t.Errorf("read into a non-empty dst = %q, %v", got, ok)
	}
	if got, ok := c.read(buf[:0], "loadgen-test:absent"); ok || len(got) != 0 {
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
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	start := time.Now()
	c, err := openTarget("redis", config{Procs: []int{1}, Keys: 10, ValueSize: 8, RedisAddr: addr})
	if err == nil {
		c.close()
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

func TestRedisLatency(t *testing.T) {
	addr := startRedis(t)
	rep, err := redisLatency(context.Background(), addr, 1000, 64, 2000)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"velo", "redis"} {
		for _, op := range []string{"get", "set"} {
			s := rep.series(target, op)
			if s == nil {
				t.Fatalf("no %s %s series", target, op)
			}
			if s.Ops != 2000 || s.MedianNs <= 0 || s.P99Ns < s.MedianNs || s.MeanNs <= 0 {
				t.Errorf("%s %s: %+v", target, op, *s)
			}
			if op == "get" && s.Hits != s.Ops {
				t.Errorf("%s get: %d of %d hit", target, s.Hits, s.Ops)
			}
		}
	}
	if v, r := rep.series("velo", "get").MedianNs, rep.series("redis", "get").MedianNs; v >= r {
		t.Errorf("velo get median %d ns >= redis get median %d ns", v, r)
	}
	if rep.GetRatio <= 1 {
		t.Errorf("GetRatio = %v", rep.GetRatio)
	}

	var out strings.Builder
	formatLatency(&out, rep)
	if !strings.Contains(out.String(), "| get | redis  |") || !strings.Contains(out.String(), "| set | velo   |") {
		t.Errorf("formatLatency:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestRedisLatencyBadArgs(t *testing.T) {
	if _, err := redisLatency(context.Background(), "127.0.0.1:1", 0, 64, 10); err == nil {
		t.Error("keys = 0 accepted")
	}
	if _, err := redisLatency(context.Background(), "127.0.0.1:1", 10, 64, 0); err == nil {
		t.Error("n = 0 accepted")
	}
}

func TestRedisLatencyUnreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	_, err := redisLatency(context.Background(), addr, 10, 8, 10)
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis at") {
		t.Errorf("err = %v, want one saying Redis cannot be reached", err)
	}
}
