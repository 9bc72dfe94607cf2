package velorueidis

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
	"github.com/velocache/velo"
)

// minConnBytes is the smallest budget a connection's cache gets, whatever
// CacheSizeEachConn or Options.MaxBytes say.
const minConnBytes = 256 << 10

// Options configure the caches that [Stores] makes, one per connection.
type Options struct {
	// MaxBytes is each connection's budget for cached replies (velo's
	// Options.MaxBytes). 0 means rueidis's ClientOption.CacheSizeEachConn
	// (128 MiB by default). Budgets below 256 KiB are raised to it.
	MaxBytes int64

	// MaxEntries, if positive, also bounds each connection's cached
	// replies by count (velo's Options.MaxEntries).
	MaxEntries int

	// Shards is velo's Options.Shards; 0 lets velo choose.
	Shards int

	// ExpiryInterval is how often each connection's cache removes
	// expired replies (velo's Options.ExpiryInterval); 0 means a second.
	ExpiryInterval time.Duration
}

// Stats are the counters of a [Stores], added up over every connection
// it served, and the velo statistics of the connections open now.
type Stats struct {
	Hits      uint64 // lookups (Flight) served from the local copy
	Misses    uint64 // lookups that sent a request to Redis
	Waits     uint64 // lookups that joined a request already in flight for the same key and command
	Installs  uint64 // replies stored locally
	Discarded uint64 // replies not stored: invalidated while in flight, connection closed, TTL spent, or too large
	Cancels   uint64 // requests that failed (their waiters got the error)

	Invalidations    uint64 // keys named in the server's invalidation messages
	LocalInvalidates uint64 // keys invalidated by this process's own writes (Client.Set, Client.Delete, Stores.Invalidate)

	// Flushes by cause, one per connection flushed: FlushServer counts
	// the server's invalidations of every key (FLUSHALL, FLUSHDB);
	// FlushClosed counts connections whose cache was dropped because
	// the connection closed or broke (CLIENT KILL, a missed ping, a
	// server restart, Client.Close).
	FlushServer uint64
	FlushClosed uint64

	Connections int // connections with a cache now
	Keys        int // Redis keys with an epoch now: a live cached reply or a request in flight
	Pending     int // requests in flight now

	// Velo adds up the velo statistics of the connections open now
	// (Entries, Bytes and HeldBytes included) and the counters of
	// those already closed.
	Velo velo.Stats
}

// Stores makes the client-side cache of each rueidis connection: pass
// its NewCacheStore method as rueidis.ClientOption.NewCacheStoreFn. It
// adds up the counters of the caches it made. A Stores may serve several
// clients; it has nothing to close itself (each connection's cache is
// closed with its connection).
type Stores struct {
	opts Options

	hits, misses, waits, installs, discarded, cancels atomic.Uint64
	invalidations, localInvalidates                   atomic.Uint64
	flushServer, flushClosed                          atomic.Uint64

	mu      sync.Mutex
	live    map[*Store]struct{}
	retired velo.Stats // velo counters of closed connections
}

// NewStores checks opts and returns a Stores whose NewCacheStore makes
// connections' caches with them.
func NewStores(opts Options) (*Stores, error) {
	if opts.MaxBytes < 0 || opts.MaxEntries < 0 || opts.Shards < 0 || opts.ExpiryInterval < 0 {
		return nil, fmt.Errorf("velorueidis: negative option in %+v", opts)
	}
	s := &Stores{opts: opts, live: make(map[*Store]struct{})}
	// Try the options once, so that NewCacheStore, which cannot return
	// an error, does not meet one.
	c, err := velo.New(s.veloOptions(0, nil))
	if err != nil {
		return nil, fmt.Errorf("velorueidis: %w", err)
	}
	c.Close()
	return s, nil
}

// NewCacheStore returns a [Stores] with opts as a
// rueidis.NewCacheStoreFn, for callers that do not read the statistics.
// It panics if opts are invalid (see [NewStores]).
func NewCacheStore(opts Options) rueidis.NewCacheStoreFn {
	s, err := NewStores(opts)
	if err != nil {
		panic(err)
	}
	return s.NewCacheStore
}

func (s *Stores) veloOptions(eachConn int, onRemove func(string, []byte, velo.Reason)) velo.Options {
	max := s.opts.MaxBytes
	if max == 0 {
		max = int64(eachConn)
	}
	if max < minConnBytes {
		max = minConnBytes
	}
	return velo.Options{
		MaxBytes:       max,
		MaxEntries:     s.opts.MaxEntries,
		Shards:         s.opts.Shards,
		ExpiryInterval: s.opts.ExpiryInterval,
		OnRemove:       onRemove,
	}
}

// NewCacheStore makes the cache of one connection; it has the signature
// of rueidis.NewCacheStoreFn. The cache's budget is Options.MaxBytes, or
// opt.CacheSizeEachConn when that is 0. Should velo refuse Options.Shards
// or MaxEntries with this budget, velo's defaults are used for them.
func (s *Stores) NewCacheStore(opt rueidis.CacheStoreOption) rueidis.CacheStore {
	st := &Store{parent: s, seed: maphash.MakeSeed(), flights: make(map[flightKey][]*flight)}
	for i := range st.epochs {
		st.epochs[i].m = make(map[uint64]epochRef)
	}
	vo := s.veloOptions(opt.CacheSizeEachConn, st.onRemove)
	c, err := velo.New(vo)
	if err != nil {
		// NewStores tried the options with another budget, which a
		// Shards or MaxEntries set by hand may not suit: let velo
		// choose those (a budget of 256 KiB or more is always valid).
		c, err = velo.New(velo.Options{MaxBytes: vo.MaxBytes, ExpiryInterval: vo.ExpiryInterval, OnRemove: vo.OnRemove})
		if err != nil {
			panic(fmt.Sprintf("velorueidis: %v", err))
		}
	}
	st.c = c
	s.mu.Lock()
	s.live[st] = struct{}{}
	s.mu.Unlock()
	return st
}

// Invalidate drops the local copies of keys from every connection's
// cache now, and keeps replies to requests already in flight for them
// from being stored or shared with later lookups, which send a request
// of their own (but see the package documentation for a request whose
// caller gave up). A process calls it after writing keys to Redis itself
// (Client.Set and Client.Delete do), so that it reads its own writes
// without waiting for the server's invalidation.
func (s *Stores) Invalidate(keys ...string) {
	s.localInvalidates.Add(uint64(len(keys)))
	for _, st := range s.stores() {
		st.invalidate(keys)
	}
}

func (s *Stores) stores() []*Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Store, 0, len(s.live))
	for st := range s.live {
		out = append(out, st)
	}
	return out
}

// Stats returns the counters, added up over every connection served.
func (s *Stores) Stats() Stats {
	st := Stats{
		Hits:             s.hits.Load(),
		Misses:           s.misses.Load(),
		Waits:            s.waits.Load(),
		Installs:         s.installs.Load(),
		Discarded:        s.discarded.Load(),
		Cancels:          s.cancels.Load(),
		Invalidations:    s.invalidations.Load(),
		LocalInvalidates: s.localInvalidates.Load(),
		FlushServer:      s.flushServer.Load(),
		FlushClosed:      s.flushClosed.Load(),
	}
	s.mu.Lock()
	v := s.retired
	live := make([]*Store, 0, len(s.live))
	for c := range s.live {
		live = append(live, c)
	}
	s.mu.Unlock()
	st.Connections = len(live)
	for _, c := range live {
		addVeloStats(&v, c.c.Stats(), true)
		k, p := c.counts()
		st.Keys += k
		st.Pending += p
	}
	st.Velo = v
	return st
}

// addVeloStats adds the counters of b to a, and its sizes when sizes is
// set.
func addVeloStats(a *velo.Stats, b velo.Stats, sizes bool) {
	a.Hits += b.Hits
	a.Misses += b.Misses
	a.Sets += b.Sets
	a.Rejected += b.Rejected
	a.Deletes += b.Deletes
	a.Evictions += b.Evictions
	a.Expirations += b.Expirations
	a.CallbackPanics += b.CallbackPanics
	if sizes {
		a.Entries += b.Entries
		a.Bytes += b.Bytes
		a.HeldBytes += b.HeldBytes
	}
}

// Store is the cache of one rueidis connection, a rueidis.CacheStore.
//
// Replies live in a velo cache, marshalled (RedisMessage.CacheMarshal)
// under the Redis key and the command, behind an 8-byte header: the
// epoch of the key when the request was sent. Beside velo, the Store
// keeps the current epoch of every key that has replies cached or
// requests in flight, in maps of integers that the garbage collector does
// not scan: a reply is served only while its epoch is its key's current
// one. An invalidation of a key forgets its epoch, which kills every
// reply of the key at once, whatever the command, and every reply still
// in flight for it; the next request for the key gets a new epoch from a
// counter that never repeats. The dead replies of a GET are deleted at
// once; those of other commands stay in velo, never served, until they
// expire, are evicted or are overwritten.
//
// Each epoch counts the replies and requests that carry it, and is
// forgotten when the count falls to zero: velo's OnRemove reports every
// reply that leaves, whatever the reason, so the epochs kept are bounded
// by what is cached or in flight now. A count that were ever wrong could
// only forget an epoch early, which makes replies miss, never serves a
// dead one.
//
// Lookups that hit take a read lock of one of 64 epoch shards and no
// other; misses, replies and invalidations take the Store's mutex for
// the requests in flight. Make one with [Stores.NewCacheStore].
type Store struct {
	parent *Stores
	c      *velo.Cache
	seed   maphash.Seed
	epochs [epochShards]epochShard

	mu       sync.Mutex
	flights  map[flightKey][]*flight // nil once closed
	nPending int
}

const epochShards = 64

// epochShard holds the current epochs of the keys that hash to it. Its
// map has no pointers: the garbage collector does not walk it.
type epochShard struct {
	mu sync.RWMutex
	m  map[uint64]epochRef // by the key's hash
	_  [24]byte            // keeps neighbouring shards' locks off one cache line
}

// epochRef is a key's current epoch and how many cached replies and
// requests in flight carry it. Keys whose hashes collide share one:
// invalidating one invalidates the other, which is safe.
type epochRef struct {
	epoch uint64
	n     int64
}

// nextEpoch numbers epochs for all stores, from 1; 0 is no epoch.
var nextEpoch atomic.Uint64

type flightKey struct{ key, cmd string }

// flight is a request in flight for one (key, command): the lookup that
// sent it and those that joined it wait on done.
type flight struct {
	done       chan struct{}
	sent       int64  // when the lookup sent the request, Unix ms
	xat        int64  // the client-side expiry the lookup asked for, Unix ms
	epoch      uint64 // the key's epoch when the lookup sent the request
	installing bool   // an Update took it; Cancel leaves it alone
	val        rueidis.RedisMessage
	err        error
}

// Wait returns the reply, or the error the request failed with, or the
// context's error if ctx ends first.
func (f *flight) Wait(ctx context.Context) (rueidis.RedisMessage, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return rueidis.RedisMessage{}, ctx.Err()
	}
}

// storeKey is the velo key of (key, cmd): key's length as a uvarint,
// key, cmd.
func storeKey(key, cmd string) string {
	return string(appendStoreKey(make([]byte, 0, binary.MaxVarintLen64+len(key)+len(cmd)), key, cmd))
}

func appendStoreKey(b []byte, key, cmd string) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, cmd...)
}

// keyBufs holds buffers for the velo keys of lookups.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}

func splitStoreKey(sk string) (key, cmd string, ok bool) {
	n, w := binary.Uvarint([]byte(sk[:min(len(sk), binary.MaxVarintLen64)]))
	if w <= 0 || uint64(len(sk)-w) < n {
		return "", "", false
	}
	return sk[w : w+int(n)], sk[w+int(n):], true
}

// The first 7 bytes of RedisMessage.CacheMarshal's output are the
// message's client-side expiry, Unix milliseconds, little-endian (the
// value CachePXAT returns); setPXAT rewrites them, there being no setter.
// TestMarshalExpiry checks the layout against the rueidis in go.mod.
func setPXAT(buf []byte, pxat int64) {
	for i := 0; i < 7; i++ {
		buf[i] = byte(pxat >> (8 * i))
	}
}

// epochHeader is the length of the epoch before each marshalled reply.
const epochHeader = 8

func (s *Store) shard(key string) (*epochShard, uint64) {
	h := maphash.String(s.seed, key)
	return &s.epochs[h%epochShards], h
}

// current returns key's epoch, 0 if it has none.
func (s *Store) current(key string) uint64 {
	sh, h := s.shard(key)
	sh.mu.RLock()
	e := sh.m[h].epoch
	sh.mu.RUnlock()
	return e
}

// ref returns key's epoch, giving it a new one if it has none, and counts
// one more holder of it.
func (s *Store) ref(key string) uint64 {
	sh, h := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.m[h]
	if !ok {
		r.epoch = nextEpoch.Add(1)
	}
	r.n++
	sh.m[h] = r
	return r.epoch
}

// unref counts one holder of key's epoch fewer, if epoch is still key's
// epoch, and forgets it when none is left.
func (s *Store) unref(key string, epoch uint64) {
	sh, h := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r, ok := sh.m[h]; ok && r.epoch == epoch {
		if r.n--; r.n <= 0 {
			delete(sh.m, h)
		} else {
			sh.m[h] = r
		}
	}
}

// forget kills key's epoch: its cached replies and requests in flight.
// It deletes the key's GET reply from velo; velo's OnRemove for it finds
// the epoch gone and does nothing.
func (s *Store) forget(key string) {
	sh, h := s.shard(key)
	sh.mu.Lock()
	_, had := sh.m[h]
	delete(sh.m, h)
	sh.mu.Unlock()
	if had {
		s.c.Delete(storeKey(key, "GET"))
	}
}

// Flight looks (key, cmd) up. It returns the cached reply if there is a
// live one; else a flight to wait on if a request for it is in flight
// and its key was not invalidated since that request was sent; else
// nothing, after recording a new flight, and rueidis sends the request
// and later calls Update or Cancel.
func (s *Store) Flight(key, cmd string, ttl time.Duration, now time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	kb := keyBufs.Get().(*[]byte)
	*kb = appendStoreKey((*kb)[:0], key, cmd)
	// The lookup does not keep its key: a view of the pooled buffer
	// spares an allocation per hit.
	buf, ok := s.c.AppendValue(nil, unsafe.String(unsafe.SliceData(*kb), len(*kb)))
	keyBufs.Put(kb)
	if ok && len(buf) > epochHeader {
		if e := binary.LittleEndian.Uint64(buf); e != 0 && e == s.current(key) {
			var m rueidis.RedisMessage
			if m.CacheUnmarshalView(buf[epochHeader:]) == nil && m.CachePXAT() > now.UnixMilli() {
				s.parent.hits.Add(1)
				return m, nil
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flights == nil { // closed: rueidis's request fails and it calls Cancel
		return rueidis.RedisMessage{}, nil
	}
	fk := flightKey{key, cmd}
	if fs := s.flights[fk]; len(fs) > 0 {
		if last := fs[len(fs)-1]; last.epoch == s.current(key) {
			s.parent.waits.Add(1)
			return rueidis.RedisMessage{}, last
		}
	}
	f := &flight{done: make(chan struct{}), sent: now.UnixMilli(), xat: now.Add(ttl).UnixMilli(), epoch: s.ref(key)}
	s.flights[fk] = append(s.flights[fk], f)
	s.nPending++
	s.parent.misses.Add(1)
	return rueidis.RedisMessage{}, nil
}

// Update takes the reply to the oldest request in flight for (key, cmd)
// that no other Update took (replies come back in the order the requests
// went out, on one connection), stores it under the epoch of its request
// unless the key was invalidated since, hands it to the waiters, and
// returns its client-side expiry: the earlier of the server's PTTL and
// the lookup's TTL. The PTTL counts from when the request was sent, not
// from now: the server read it at some moment between the two, and a
// reply held up on the way (a slow network, a stalled reader) would
// otherwise be served for as long past the server's expiry.
func (s *Store) Update(key, cmd string, val rueidis.RedisMessage) (pxat int64) {
	received := time.Now().UnixMilli()
	pxat = val.CachePXAT()
	if pxat < 0 {
		pxat = 0
	}
	fk := flightKey{key, cmd}
	s.mu.Lock()
	var f *flight
	for _, g := range s.flights[fk] { // nil map once closed
		if !g.installing {
			f = g
			break
		}
	}
	if f == nil { // canceled already, or closed
		s.mu.Unlock()
		s.parent.discarded.Add(1)
		return pxat
	}
	f.installing = true
	s.mu.Unlock()

	if pxat > 0 {
		// rueidis adds the PTTL to the time it received the reply.
		pxat = max(pxat-max(received-f.sent, 0), f.sent)
	}
	if pxat == 0 || f.xat < pxat {
		pxat = f.xat
	}
	buf := make([]byte, epochHeader, epochHeader+val.CacheSize())
	binary.LittleEndian.PutUint64(buf, f.epoch)
	buf = val.CacheMarshal(buf)
	setPXAT(buf[epochHeader:], pxat)
	ttl := time.Until(time.UnixMilli(pxat))
	// The flight's hold on the epoch passes to the stored reply, whose
	// removal velo reports; unless it is not stored. An invalidation
	// after this check kills the stored reply through its epoch.
	install := ttl > 0 && f.epoch == s.current(key) && s.c.Set(storeKey(key, cmd), buf, ttl) == nil
	if install {
		s.parent.installs.Add(1)
	} else {
		s.unref(key, f.epoch)
		s.parent.discarded.Add(1)
	}

	s.mu.Lock()
	s.removeFlight(fk, f)
	s.mu.Unlock()
	// The waiters get their own view of buf, which nothing modifies now.
	if err := f.val.CacheUnmarshalView(buf[epochHeader:]); err != nil {
		f.val, f.err = rueidis.RedisMessage{}, err
	}
	close(f.done)
	return pxat
}

// removeFlight takes f out of the flights of fk. s.mu is held.
func (s *Store) removeFlight(fk flightKey, f *flight) {
	fs := s.flights[fk]
	for i, g := range fs {
		if g == f {
			copy(fs[i:], fs[i+1:])
			fs[len(fs)-1] = nil
			fs = fs[:len(fs)-1]
			s.nPending--
			break
		}
	}
	if len(fs) == 0 {
		delete(s.flights, fk)
	} else if s.flights != nil {
		s.flights[fk] = fs
	}
}

// Cancel fails the oldest request in flight for (key, cmd) that no
// Update took: its waiters get err.
func (s *Store) Cancel(key, cmd string, err error) {
	fk := flightKey{key, cmd}
	s.mu.Lock()
	var f *flight
	for _, g := range s.flights[fk] { // nil map once closed: Close failed every flight
		if !g.installing {
			f = g
			break
		}
	}
	if f == nil {
		s.mu.Unlock()
		return
	}
	s.removeFlight(fk, f)
	s.mu.Unlock()
	s.unref(key, f.epoch)
	s.parent.cancels.Add(1)
	f.err = err
	close(f.done)
}

// Delete handles the server's invalidation messages: it kills every
// cached reply of keys (of every key when keys is nil), whatever the
// command, and the replies in flight for them, which are handed to their
// waiters but not stored.
func (s *Store) Delete(keys []rueidis.RedisMessage) {
	if keys == nil {
		s.parent.flushServer.Add(1)
		s.flushAll()
		return
	}
	s.parent.invalidations.Add(uint64(len(keys)))
	for i := range keys {
		// The key's bytes may be the connection's read buffer: used
		// here only for lookups and copies.
		if k, err := keys[i].ToString(); err == nil {
			s.forget(k)
		}
	}
}

// flushAll empties velo and forgets every epoch. velo's Clear reports no
// removal, so the epochs go after it: a reply stored meanwhile (Clear may
// leave it) is dead once they are gone, and none keeps an epoch that no
// removal would ever release.
func (s *Store) flushAll() {
	s.c.Clear()
	for i := range s.epochs {
		sh := &s.epochs[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// invalidate is Stores.Invalidate for this connection.
func (s *Store) invalidate(keys []string) {
	for _, k := range keys {
		s.forget(k)
	}
}

// Close drops every cached reply, fails the requests in flight with err
// and closes the velo cache (its expiry goroutine ends). rueidis calls it
// when the connection closes or breaks; the Store is not used afterwards
// except by calls already under way, which it answers as a closed store.
func (s *Store) Close(err error) {
	s.mu.Lock()
	if s.flights == nil {
		s.mu.Unlock()
		return
	}
	flights := s.flights
	s.flights = nil
	s.nPending = 0
	s.mu.Unlock()

	s.parent.flushClosed.Add(1)
	vs := s.c.Stats()
	s.c.Close()
	s.flushAll()
	s.parent.mu.Lock()
	delete(s.parent.live, s)
	addVeloStats(&s.parent.retired, vs, false)
	s.parent.mu.Unlock()

	for _, fs := range flights {
		for _, f := range fs {
			if !f.installing { // else Update delivers its reply
				f.err = err
				close(f.done)
			}
		}
	}
}

// onRemove is velo's OnRemove: a reply left velo (evicted, expired,
// deleted or overwritten), so its epoch has one holder fewer. It takes
// only an epoch shard's lock, which the Store never holds while calling
// velo.
func (s *Store) onRemove(sk string, value []byte, _ velo.Reason) {
	key, _, ok := splitStoreKey(sk)
	if !ok || len(value) < epochHeader {
		return
	}
	s.unref(key, binary.LittleEndian.Uint64(value))
}

// counts returns the keys with an epoch and the requests in flight.
func (s *Store) counts() (keys, pending int) {
	for i := range s.epochs {
		sh := &s.epochs[i]
		sh.mu.RLock()
		keys += len(sh.m)
		sh.mu.RUnlock()
	}
	s.mu.Lock()
	pending = s.nPending
	s.mu.Unlock()
	return keys, pending
}

var _ rueidis.CacheStore = (*Store)(nil)
