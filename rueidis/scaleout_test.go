package velorueidis

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/velocache/velo"
)

// TestMeasureScaleOut runs 2 and then 4 "instances" of a service in this
// process against one local redis-server, each with a Redis client (and
// cache) of its own, and compares three ways of reading through Redis:
//
//   - ttl: a plain velo.Cache per instance with a TTL in front of Redis
//     (a read is a velo hit, else a GET whose value is Set in velo; a
//     write SETs Redis and Sets the writer's own velo), run with a TTL of
//     5 s and of 500 ms (VELORUEIDIS_SCALEOUT_TTLS, e.g. "5s,1s,100ms",
//     sets the list);
//   - tracking: velorueidis.Client (GetOrLoad and Set: server-assisted
//     client-side caching with velo as the store);
//   - redis: every read a GET, every write a SET (rueidis without
//     client-side caching).
//
// The workload is the same for the three: 10,000 keys of 1 KiB, chosen
// by a Zipf law (s = 1.01), 95% reads and 5% writes (a fraction of
// writes VELORUEIDIS_SCALEOUT_WRITES, if set), from 4 goroutines
// per instance, paced together at a fixed total rate of requests (10,000
// per second unless VELORUEIDIS_SCALEOUT_RATE says otherwise). Each run
// warms up for 2 s and is measured for 8 s (VELORUEIDIS_SCALEOUT_SECONDS).
//
// It reports origin load (the GETs, and all commands but INFO, the server
// executed in the measured window, from INFO commandstats, and the CPU
// time it used, from INFO cpu), the CPU time this process used (the
// instances and the harness together, from getrusage), staleness and
// latency. "Served locally" is 1 - origin GETs / reads. A DoCache miss
// is five commands (ECHO, MULTI, PTTL, GET, EXEC), so "origin cmds/s"
// counts tracking's misses five times.
//
// Every value carries its key's version; writes of one key are serialized
// by the harness, so versions reach Redis in order. A read is stale when
// it returns a version older than the newest one whose write had
// returned before the read started; its stale age is how long before
// the read started the write that overwrote the returned version
// returned. Latencies are of each read or write call alone (not of the
// pacing, nor of waiting for another write of the same key), from
// sorted samples of every request in the window. Each worker sleeps
// until its next request is due; one that falls behind sends at once,
// and one more than 100 ms behind drops the backlog, so "requests/s"
// shows whether the machine kept the pace. Latency is measured from
// when a request was sent, not from when it was due (no correction for
// coordinated omission).
//
// It runs only with VELORUEIDIS_SCALEOUT=1 (see docs/scale-out.md):
//
//	VELORUEIDIS_SCALEOUT=1 GOWORK=off go test -run TestMeasureScaleOut -count=1 -v .
func TestMeasureScaleOut(t *testing.T) {
	if os.Getenv("VELORUEIDIS_SCALEOUT") == "" {
		t.Skip("a measurement, not a test: set VELORUEIDIS_SCALEOUT=1 to run it")
	}
	rate := envFloat(t, "VELORUEIDIS_SCALEOUT_RATE", 10_000)
	writes := envFloat(t, "VELORUEIDIS_SCALEOUT_WRITES", 0.05)
	ttls := []time.Duration{5 * time.Second, 500 * time.Millisecond}
	if s := os.Getenv("VELORUEIDIS_SCALEOUT_TTLS"); s != "" {
		ttls = nil
		for _, f := range strings.Split(s, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d <= 0 {
				t.Fatalf("VELORUEIDIS_SCALEOUT_TTLS=%q: want positive durations separated by commas", s)
			}
			ttls = append(ttls, d)
		}
	}
	if writes >= 1 {
		t.Fatalf("VELORUEIDIS_SCALEOUT_WRITES=%v: want a fraction below 1", writes)
	}
	secs := envFloat(t, "VELORUEIDIS_SCALEOUT_SECONDS", 8)
	window := time.Duration(secs * float64(time.Second))
	srv := startRedis(t)
	admin := newAdmin(t, srv.addr)
	fmt.Printf("\n%d keys of %d bytes, Zipf s=%.2f, %.1f%% writes, %d goroutines per instance, paced at %.0f requests/s in all; %v warm-up, %v measured; GOMAXPROCS %d, %s\n",
		soKeys, soValueBytes, soZipfS, writes*100, soWorkersPerInstance, rate, soWarmup, window, runtime.GOMAXPROCS(0), runtime.Version())
	for _, n := range []int{2, 4} {
		fmt.Printf("\nN = %d instances\n\n", n)
		fmt.Println("| configuration | requests/s | reads/s | origin GETs/s | origin cmds/s | served locally | Redis CPU | client CPU | stale reads | stale age p50 / p99 / max | read p50 / p99 / p99.9 | write p50 / p99 |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
		var cfgs []soConfig
		for _, ttl := range ttls {
			cfgs = append(cfgs, soConfig{"ttl", ttl})
		}
		for _, cfg := range append(cfgs, soConfig{kind: "tracking"}, soConfig{kind: "redis"}) {
			r := scaleOutRun(t, srv.addr, admin, n, cfg, rate, writes, window)
			fmt.Println(r.row())
		}
	}
}

const (
	soKeys               = 10_000
	soValueBytes         = 1024
	soZipfS              = 1.01
	soWorkersPerInstance = 4
	soWarmup             = 2 * time.Second
	soMaxBehind          = 100 * time.Millisecond // a worker further behind its schedule drops the backlog
)

// soConfig is a configuration: kind "ttl" (with ttl), "tracking" or
// "redis".
type soConfig struct {
	kind string
	ttl  time.Duration
}

func (c soConfig) String() string {
	switch c.kind {
	case "ttl":
		return fmt.Sprintf("(a) velo per instance, TTL %v", c.ttl)
	case "tracking":
		return "(b) velorueidis.Client (tracking)"
	}
	return "(c) Redis only"
}

func soKey(i int) string { return fmt.Sprintf("so:%05d", i) }

// soKeyState is the harness's record of one key's writes.
type soKeyState struct {
	wmu    sync.Mutex    // serializes the key's writes, so that versions reach Redis in order
	latest atomic.Uint64 // the newest version whose write returned
	mu     sync.Mutex
	done   []int64 // done[v-1]: when the write of version v returned (Unix ns)
}

// soInstance is one instance of the service: how it reads and writes.
type soInstance interface {
	read(ctx context.Context, key string) ([]byte, error)
	write(ctx context.Context, key string, val []byte) error
	close()
}

// soTTLInstance: a velo cache with a TTL in front of Redis.
type soTTLInstance struct {
	rc  rueidis.Client
	vc  *velo.Cache
	ttl time.Duration
}

func (s *soTTLInstance) read(ctx context.Context, key string) ([]byte, error) {
	if v, ok := s.vc.Get(key); ok {
		return v, nil
	}
	v, err := s.rc.Do(ctx, s.rc.B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		return nil, err
	}
	_ = s.vc.Set(key, v, s.ttl)
	return v, nil
}

func (s *soTTLInstance) write(ctx context.Context, key string, val []byte) error {
	if err := s.rc.Do(ctx, s.rc.B().Set().Key(key).Value(rueidis.BinaryString(val)).Build()).Error(); err != nil {
		return err
	}
	return s.vc.Set(key, val, s.ttl)
}

func (s *soTTLInstance) close() { s.rc.Close(); s.vc.Close() }

// soTrackingInstance: velorueidis.Client.
type soTrackingInstance struct{ c *Client }

func (s *soTrackingInstance) read(ctx context.Context, key string) ([]byte, error) {
	return s.c.GetOrLoad(ctx, key, 0, noLoad)
}

func (s *soTrackingInstance) write(ctx context.Context, key string, val []byte) error {
	return s.c.Set(ctx, key, val, 0)
}

func (s *soTrackingInstance) close() { s.c.Close() }

// soRedisInstance: Redis alone.
type soRedisInstance struct{ rc rueidis.Client }

func (s *soRedisInstance) read(ctx context.Context, key string) ([]byte, error) {
	return s.rc.Do(ctx, s.rc.B().Get().Key(key).Build()).AsBytes()
}

func (s *soRedisInstance) write(ctx context.Context, key string, val []byte) error {
	return s.rc.Do(ctx, s.rc.B().Set().Key(key).Value(rueidis.BinaryString(val)).Build()).Error()
}

func (s *soRedisInstance) close() { s.rc.Close() }

func newSOInstance(t *testing.T, addr string, cfg soConfig) soInstance {
	t.Helper()
	plain := func() rueidis.Client {
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	switch cfg.kind {
	case "ttl":
		vc, err := velo.New(velo.Options{MaxBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return &soTTLInstance{rc: plain(), vc: vc, ttl: cfg.ttl}
	case "tracking":
		c, err := NewClient(ClientOptions{
			Redis: rueidis.ClientOption{InitAddress: []string{addr}},
			Store: Options{MaxBytes: 64 << 20},
		})
		if err != nil {
			t.Fatal(err)
		}
		return &soTrackingInstance{c: c}
	case "redis":
		return &soRedisInstance{rc: plain()}
	}
	t.Fatalf("unknown configuration %q", cfg.kind)
	return nil
}

// soRecord is what one worker saw in the measured window.
type soRecord struct {
	reads, writes []time.Duration // latencies
	staleAges     []time.Duration
	errs          int
	firstErr      error
}

func (r *soRecord) fail(err error) {
	r.errs++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// soResult is one configuration's row.
type soResult struct {
	cfg                  soConfig
	window               time.Duration
	reads, writes, stale []time.Duration // sorted
	gets, cmds           int             // executed by the server in the window
	serverCPU, clientCPU time.Duration   // used by redis-server and by this process in the window
}

// scaleOutRun measures one configuration with n instances: it resets
// Redis to version 0 of every key, runs the paced workload for the
// warm-up and the window, and returns what the window saw.
func scaleOutRun(t *testing.T, addr string, admin rueidis.Client, n int, cfg soConfig, rate, writes float64, window time.Duration) soResult {
	t.Helper()
	mustDo(t, admin, "FLUSHALL")
	zero := make([]byte, soValueBytes) // version 0
	for i := 0; i < soKeys; i += 500 {
		args := []string{"MSET"}
		for j := i; j < i+500; j++ {
			args = append(args, soKey(j), string(zero))
		}
		mustDo(t, admin, args...)
	}
	keys := make([]string, soKeys)
	for i := range keys {
		keys[i] = soKey(i)
	}
	states := make([]soKeyState, soKeys)
	insts := make([]soInstance, n)
	for i := range insts {
		insts[i] = newSOInstance(t, addr, cfg)
	}
	defer func() {
		for _, in := range insts {
			in.close()
		}
	}()
	runtime.GC()

	workers := n * soWorkersPerInstance
	interval := time.Duration(float64(workers) / rate * float64(time.Second))
	start := time.Now().Add(20 * time.Millisecond)
	mStart := start.Add(soWarmup)
	mEnd := mStart.Add(window)
	ctx, cancel := context.WithDeadline(context.Background(), mEnd.Add(time.Minute))
	defer cancel()

	// The server's counters and this process's CPU time at the window's
	// edges.
	edge := make(chan soCounters, 2)
	go func() {
		for _, at := range []time.Time{mStart, mEnd} {
			time.Sleep(time.Until(at))
			edge <- soRead(t, admin)
		}
	}()

	recs := make([]soRecord, workers)
	var wg sync.WaitGroup
	for w := range workers {
		inst := insts[w%n]
		rec := &recs[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The same seeds for every configuration: the same keys in
			// the same order, at the same times.
			r := rand.New(rand.NewPCG(uint64(w)+1, uint64(n)))
			z := rand.NewZipf(r, soZipfS, 1, soKeys-1)
			// Stagger the workers' schedules over one interval.
			next := start.Add(interval * time.Duration(w) / time.Duration(workers))
			val := make([]byte, soValueBytes)
			for {
				now := time.Now()
				if d := next.Sub(now); d > 0 {
					time.Sleep(d)
				} else if -d > soMaxBehind {
					next = now
				}
				next = next.Add(interval)
				t0 := time.Now()
				if !t0.Before(mEnd) {
					return
				}
				in := !t0.Before(mStart)
				k := int(z.Uint64())
				ks := &states[k]
				if r.Float64() < writes {
					ks.wmu.Lock()
					v := ks.latest.Load() + 1
					binary.LittleEndian.PutUint64(val[0:], v)
					binary.LittleEndian.PutUint64(val[8:], uint64(time.Now().UnixNano()))
					s := time.Now()
					err := inst.write(ctx, keys[k], val)
					d := time.Since(s)
					ks.mu.Lock()
					ks.done = append(ks.done, time.Now().UnixNano())
					ks.mu.Unlock()
					ks.latest.Store(v)
					ks.wmu.Unlock()
					if in {
						if err != nil {
							rec.fail(err)
						} else {
							rec.writes = append(rec.writes, d)
						}
					}
					continue
				}
				want := ks.latest.Load()
				s := time.Now()
				got, err := inst.read(ctx, keys[k])
				d := time.Since(s)
				if !in {
					continue
				}
				if err == nil && len(got) < 16 {
					err = fmt.Errorf("%s: value of %d bytes", keys[k], len(got))
				}
				if err != nil {
					rec.fail(err)
					continue
				}
				rec.reads = append(rec.reads, d)
				if v := binary.LittleEndian.Uint64(got); v < want {
					ks.mu.Lock()
					overwritten := ks.done[v] // the write of version v+1
					ks.mu.Unlock()
					rec.staleAges = append(rec.staleAges, time.Duration(s.UnixNano()-overwritten))
				}
			}
		}()
	}
	wg.Wait()
	s0, s1 := <-edge, <-edge

	res := soResult{cfg: cfg, window: window, gets: s1.gets - s0.gets, cmds: s1.cmds - s0.cmds,
		serverCPU: s1.serverCPU - s0.serverCPU, clientCPU: s1.clientCPU - s0.clientCPU}
	var errs int
	var firstErr error
	for i := range recs {
		res.reads = append(res.reads, recs[i].reads...)
		res.writes = append(res.writes, recs[i].writes...)
		res.stale = append(res.stale, recs[i].staleAges...)
		errs += recs[i].errs
		if firstErr == nil {
			firstErr = recs[i].firstErr
		}
	}
	if errs > 0 {
		t.Errorf("%s, %d instances: %d requests failed, the first with %v", cfg, n, errs, firstErr)
	}
	slices.Sort(res.reads)
	slices.Sort(res.writes)
	slices.Sort(res.stale)
	return res
}

var (
	soCmdCalls = regexp.MustCompile(`cmdstat_([^:]+):calls=(\d+)`)
	soCPU      = regexp.MustCompile(`used_cpu_(?:sys|user):([0-9.]+)`)
)

// soCounters are the GETs and all commands (but INFO) the server has
// executed, the CPU time it has used, and the CPU time this process has
// used.
type soCounters struct {
	gets, cmds           int
	serverCPU, clientCPU time.Duration
}

func soRead(t testing.TB, admin rueidis.Client) (c soCounters) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Error(err)
	}
	c.clientCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s, err := admin.Do(context.Background(), admin.B().Arbitrary("INFO").Args("commandstats", "cpu").Build()).ToString()
	if err != nil {
		t.Error(err)
		return c
	}
	for _, m := range soCmdCalls.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "info":
		case "get":
			c.gets += n
			c.cmds += n
		default:
			c.cmds += n
		}
	}
	for _, m := range soCPU.FindAllStringSubmatch(s, -1) {
		f, _ := strconv.ParseFloat(m[1], 64)
		c.serverCPU += time.Duration(f * float64(time.Second))
	}
	return c
}

func (r soResult) row() string {
	secs := r.window.Seconds()
	reads := float64(len(r.reads))
	perSec := func(n float64) string { return strconv.FormatFloat(n/secs, 'f', 0, 64) }
	local := "-"
	if r.cfg.kind != "redis" && reads > 0 {
		local = fmt.Sprintf("%.1f%%", 100*(1-float64(r.gets)/reads))
	}
	stale := "0"
	ages := "-"
	if len(r.stale) > 0 {
		stale = fmt.Sprintf("%.3f%% (%d)", 100*float64(len(r.stale))/reads, len(r.stale))
		ages = strings.Join([]string{soDur(soPct(r.stale, 0.5)), soDur(soPct(r.stale, 0.99)), soDur(r.stale[len(r.stale)-1])}, " / ")
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |",
		r.cfg, perSec(reads+float64(len(r.writes))), perSec(reads), perSec(float64(r.gets)), perSec(float64(r.cmds)),
		local, soCores(r.serverCPU, secs), soCores(r.clientCPU, secs), stale, ages,
		strings.Join([]string{soDur(soPct(r.reads, 0.5)), soDur(soPct(r.reads, 0.99)), soDur(soPct(r.reads, 0.999))}, " / "),
		strings.Join([]string{soDur(soPct(r.writes, 0.5)), soDur(soPct(r.writes, 0.99))}, " / "))
}

// soCores is CPU time d over secs seconds, in % of one core.
func soCores(d time.Duration, secs float64) string {
	return fmt.Sprintf("%.0f%%", 100*d.Seconds()/secs)
}

// soPct returns the q-quantile of sorted samples.
func soPct(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func soDur(d time.Duration) string {
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func envFloat(t *testing.T, name string, def float64) float64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return f
}
