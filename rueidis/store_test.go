package velorueidis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// strMsg builds a blob-string reply with client-side expiry pxat (0:
// none) through the documented CacheMarshal layout: 7 bytes of expiry,
// the type byte, an 8-byte big-endian length, the bytes.
func strMsg(t testing.TB, s string, pxat int64) rueidis.RedisMessage {
	t.Helper()
	buf := make([]byte, 7, 16+len(s))
	setPXAT(buf, pxat)
	buf = append(buf, '$')
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
	buf = append(buf, s...)
	var m rueidis.RedisMessage
	if err := m.CacheUnmarshalView(buf); err != nil {
		t.Fatal(err)
	}
	return m
}

func msgString(t testing.TB, m rueidis.RedisMessage) string {
	t.Helper()
	s, err := m.ToString()
	if err != nil {
		t.Fatalf("ToString: %v", err)
	}
	return s
}

func newTestStore(t testing.TB, opts Options) (*Stores, *Store) {
	t.Helper()
	ss, err := NewStores(opts)
	if err != nil {
		t.Fatal(err)
	}
	st := ss.NewCacheStore(rueidis.CacheStoreOption{CacheSizeEachConn: 1 << 20}).(*Store)
	t.Cleanup(func() { st.Close(errors.New("test over")) })
	return ss, st
}

func invalidation(t testing.TB, keys ...string) []rueidis.RedisMessage {
	out := make([]rueidis.RedisMessage, len(keys))
	for i, k := range keys {
		out[i] = strMsg(t, k, 0)
	}
	return out
}

func TestMarshalExpiry(t *testing.T) {
	m := strMsg(t, "value", 0)
	buf := m.CacheMarshal(nil)
	const pxat = 1893456000123 // 2030
	setPXAT(buf, pxat)
	var back rueidis.RedisMessage
	if err := back.CacheUnmarshalView(buf); err != nil {
		t.Fatal(err)
	}
	if got := back.CachePXAT(); got != pxat {
		t.Fatalf("CachePXAT after setPXAT = %d, want %d: RedisMessage.CacheMarshal changed layout", got, pxat)
	}
	if s := msgString(t, back); s != "value" {
		t.Fatalf("value %q", s)
	}
}

func TestStoreKey(t *testing.T) {
	for _, kc := range [][2]string{{"", ""}, {"k", "GET"}, {"a\x00b", "HGET\x00f"}, {string(make([]byte, 300)), "x"}} {
		k, c, ok := splitStoreKey(storeKey(kc[0], kc[1]))
		if !ok || k != kc[0] || c != kc[1] {
			t.Fatalf("split(store(%q,%q)) = %q %q %v", kc[0], kc[1], k, c, ok)
		}
	}
}

func TestFlightSingleFlightAndHit(t *testing.T) {
	ss, st := newTestStore(t, Options{})
	now := time.Now()
	if v, e := st.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || e != nil {
		t.Fatal("first lookup should send the request (no value, no entry)")
	}
	var wg sync.WaitGroup
	got := make([]string, 5)
	for i := range got {
		v, e := st.Flight("k", "GET", time.Minute, now)
		if e == nil {
			t.Fatalf("lookup %d while in flight: no entry to wait on (value %v)", i, v)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := e.Wait(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			got[i], _ = m.ToString()
		}()
	}
	pxat := st.Update("k", "GET", strMsg(t, "v1", 0))
	wg.Wait()
	for i, s := range got {
		if s != "v1" {
			t.Fatalf("waiter %d got %q", i, s)
		}
	}
	if want := now.Add(time.Minute).UnixMilli(); pxat != want {
		t.Fatalf("pxat %d, want the client TTL's %d", pxat, want)
	}
	v, e := st.Flight("k", "GET", time.Minute, time.Now())
	if e != nil || msgString(t, v) != "v1" || v.CachePXAT() != pxat {
		t.Fatalf("hit: %v %v pxat %d", v, e, v.CachePXAT())
	}
	s := ss.Stats()
	if s.Misses != 1 || s.Waits != 5 || s.Hits != 1 || s.Installs != 1 || s.Velo.Entries != 1 || s.Pending != 0 || s.Keys != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestServerPTTLShortensClientTTL(t *testing.T) {
	_, st := newTestStore(t, Options{})
	now := time.Now()
	st.Flight("k", "GET", time.Hour, now)
	server := now.Add(50 * time.Millisecond).UnixMilli()
	if pxat := st.Update("k", "GET", strMsg(t, "v", server)); pxat != server {
		t.Fatalf("pxat %d, want the server's %d", pxat, server)
	}
	if v, _ := st.Flight("k", "GET", time.Hour, now); msgString(t, v) != "v" {
		t.Fatal("no hit before the server's expiry")
	}
	// After the server's expiry the copy is not served, whatever velo's
	// coarse clock says.
	if v, e := st.Flight("k", "GET", time.Hour, now.Add(60*time.Millisecond)); v.IsCacheHit() || e != nil {
		t.Fatalf("served past the server's PTTL: %v %v", v, e)
	}
}

func TestInvalidatedFlightNotInstalled(t *testing.T) {
	ss, st := newTestStore(t, Options{})
	now := time.Now()
	st.Flight("k", "GET", time.Minute, now)
	_, joined := st.Flight("k", "GET", time.Minute, now)
	st.Delete(invalidation(t, "k"))
	// A lookup after the invalidation does not join the old request.
	if v, e := st.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || e != nil {
		t.Fatal("lookup after invalidation joined the invalidated flight")
	}
	st.Update("k", "GET", strMsg(t, "old", 0)) // the first request's reply
	m, err := joined.Wait(context.Background())
	if err != nil || msgString(t, m) != "old" {
		t.Fatalf("waiter of the invalidated flight: %v %v", m, err)
	}
	if v, e := st.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || e == nil {
		t.Fatal("the invalidated reply was stored (or the second flight is gone)")
	}
	st.Update("k", "GET", strMsg(t, "new", 0))
	if v, _ := st.Flight("k", "GET", time.Minute, now); msgString(t, v) != "new" {
		t.Fatalf("second reply not stored: %v", v)
	}
	s := ss.Stats()
	if s.Installs != 1 || s.Discarded != 1 || s.Invalidations != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A later invalidation drops the stored one.
	st.Delete(invalidation(t, "k", "never-seen"))
	if v, e := st.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || e != nil {
		t.Fatal("served after invalidation")
	}
	st.Cancel("k", "GET", errors.New("x"))
	if s := ss.Stats(); s.Keys != 0 || s.Pending != 0 {
		t.Fatalf("bookkeeping left: %+v", s)
	}
}

func TestDeleteEveryCommandOfKey(t *testing.T) {
	_, st := newTestStore(t, Options{})
	now := time.Now()
	for _, cmd := range []string{"GET", "STRLEN", "GETRANGE\x000\x001"} {
		st.Flight("k", cmd, time.Minute, now)
		st.Update("k", cmd, strMsg(t, cmd, 0))
		st.Flight("other", cmd, time.Minute, now)
		st.Update("other", cmd, strMsg(t, cmd, 0))
	}
	st.Delete(invalidation(t, "k"))
	for _, cmd := range []string{"GET", "STRLEN", "GETRANGE\x000\x001"} {
		if v, _ := st.Flight("k", cmd, time.Minute, now); v.IsCacheHit() {
			t.Fatalf("%q of the invalidated key served", cmd)
		}
		if v, _ := st.Flight("other", cmd, time.Minute, now); !v.IsCacheHit() {
			t.Fatalf("%q of another key dropped", cmd)
		}
	}
}

func TestFlushAllAndClose(t *testing.T) {
	ss, st := newTestStore(t, Options{})
	now := time.Now()
	for i := range 100 {
		k := fmt.Sprint("k", i)
		st.Flight(k, "GET", time.Minute, now)
		st.Update(k, "GET", strMsg(t, k, 0))
	}
	st.Flight("pending", "GET", time.Minute, now)
	st.Delete(nil)
	s := ss.Stats()
	if s.FlushServer != 1 || s.Keys != 0 || s.Pending != 1 || s.Velo.Entries != 0 {
		t.Fatalf("after flush-all: %+v", s)
	}
	st.Update("pending", "GET", strMsg(t, "x", 0))
	if v, _ := st.Flight("pending", "GET", time.Minute, now); v.IsCacheHit() {
		t.Fatal("reply in flight across a flush-all was stored")
	}
	_, e := st.Flight("pending", "GET", time.Minute, now)
	boom := errors.New("connection closed")
	st.Close(boom)
	if _, err := e.Wait(context.Background()); err != boom {
		t.Fatalf("waiter after Close: %v", err)
	}
	if v, e := st.Flight("k1", "GET", time.Minute, now); v.IsCacheHit() || e != nil {
		t.Fatal("closed store served or made a flight")
	}
	st.Update("k1", "GET", strMsg(t, "x", 0))
	st.Cancel("k1", "GET", boom)
	st.Delete(nil)
	st.Close(boom)
	if s := ss.Stats(); s.FlushClosed != 1 || s.Connections != 0 {
		t.Fatalf("after close: %+v", s)
	}
}

func TestCancelFailsWaiters(t *testing.T) {
	ss, st := newTestStore(t, Options{})
	now := time.Now()
	st.Flight("k", "GET", time.Minute, now)
	_, e := st.Flight("k", "GET", time.Minute, now)
	boom := errors.New("boom")
	st.Cancel("k", "GET", boom)
	if _, err := e.Wait(context.Background()); err != boom {
		t.Fatalf("waiter got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.Flight("k", "GET", time.Minute, now)
	_, e = st.Flight("k", "GET", time.Minute, now)
	cancel()
	if _, err := e.Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait with a canceled context: %v", err)
	}
	st.Update("k", "GET", strMsg(t, "v", 0))
	if s := ss.Stats(); s.Cancels != 1 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBookkeepingBounded churns far more keys than fit through a small
// budget, with short TTLs and invalidations: the map beside velo holds
// what velo holds, never what it once held.
func TestBookkeepingBounded(t *testing.T) {
	ss, st := newTestStore(t, Options{MaxBytes: minConnBytes, ExpiryInterval: time.Millisecond})
	val := string(make([]byte, 512))
	now := time.Now()
	for i := range 20000 {
		k := fmt.Sprint("key:", i)
		ttl := time.Minute
		if i%3 == 0 {
			ttl = 20 * time.Millisecond
		}
		st.Flight(k, "GET", ttl, now)
		st.Update(k, "GET", strMsg(t, val, 0))
		if i%7 == 0 {
			st.Delete(invalidation(t, fmt.Sprint("key:", i/2)))
		}
		if i%1000 == 999 {
			s := ss.Stats()
			if s.Keys > s.Velo.Entries || s.Pending != 0 {
				t.Fatalf("after %d keys: %d keys with an epoch, %d pending, velo %d entries", i+1, s.Keys, s.Pending, s.Velo.Entries)
			}
		}
	}
	s := ss.Stats()
	if s.Velo.Evictions == 0 {
		t.Fatalf("no evictions: the test did not churn (%+v)", s.Velo)
	}
	if s.Keys > s.Velo.Entries {
		t.Fatalf("%d keys with an epoch, velo %d entries", s.Keys, s.Velo.Entries)
	}
	t.Logf("20000 keys through %d bytes: %d kept, %d evicted", minConnBytes, s.Velo.Entries, s.Velo.Evictions)
}

// TestStoreConcurrent hammers one store from many goroutines under -race;
// afterwards every reply velo holds is in the bookkeeping (else an
// invalidation could miss it) and nothing is pending.
func TestStoreConcurrent(t *testing.T) {
	ss, st := newTestStore(t, Options{MaxBytes: minConnBytes, ExpiryInterval: time.Millisecond})
	val := string(make([]byte, 300))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5000 {
				k := fmt.Sprint("k", r.IntN(2000))
				cmd := []string{"GET", "STRLEN"}[r.IntN(2)]
				switch r.IntN(10) {
				case 0:
					st.Delete(invalidation(t, k))
				case 1:
					ss.Invalidate(k)
				default:
					ttl := time.Duration(1+r.IntN(50)) * time.Millisecond
					if r.IntN(4) == 0 {
						ttl = time.Hour // outlives the checks below
					}
					v, e := st.Flight(k, cmd, ttl, time.Now())
					if v.IsCacheHit() {
						continue
					}
					if e != nil {
						e.Wait(context.Background())
						continue
					}
					if r.IntN(20) == 0 {
						st.Cancel(k, cmd, errors.New("x"))
					} else {
						st.Update(k, cmd, strMsg(t, val, 0))
					}
				}
			}
		}()
	}
	wg.Wait()
	// Every live reply's epoch counts it (else it would be forgotten
	// while the reply is served). Replies with short TTLs may expire
	// meanwhile, and their counts go: only those stored for an hour are
	// counted; nothing else writes now, so none is evicted.
	held := map[string]int64{}
	for sk, v := range st.c.All() {
		k, _, _ := splitStoreKey(sk)
		if ttl, ok := st.c.TTL(sk); !ok || ttl < 30*time.Minute {
			continue
		}
		if e := binary.LittleEndian.Uint64(v); e == st.current(k) {
			held[k]++
		}
	}
	for k, n := range held {
		sh, h := st.shard(k)
		sh.mu.RLock()
		r := sh.m[h]
		sh.mu.RUnlock()
		if r.n < n {
			t.Fatalf("key %q: epoch counts %d holders, velo holds %d live replies", k, r.n, n)
		}
	}
	if s := ss.Stats(); s.Pending != 0 {
		t.Fatalf("%d pending after all calls returned", s.Pending)
	}
	// ... and once every reply expired or was invalidated, no epoch is
	// left.
	for k := range held {
		ss.Invalidate(k)
	}
	deadline := time.Now().Add(waitFor)
	for {
		s := ss.Stats()
		if s.Keys == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys keep an epoch after their replies expired (velo %d entries)", s.Keys, s.Velo.Entries)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
