package velo

// Tests against keys picked by an adversary who knows how velo hashed keys
// until it took a random per-cache seed: unseeded XXH64. The index keeps
// one location per 64-bit hash and the TinyLFU sketch counts hashes, so
// keys with one hash would displace each other and share their counts.
// These tests build such keys for XXH64 with seed 0 and check, through the
// public API only, that they behave as any distinct keys do.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

// XXH64 with seed 0 on a 64-byte input, and how to invert it.
//
// XXH64 keeps four 64-bit lane accumulators, starting at
//
//	v1 = seed+P1+P2, v2 = seed+P2, v3 = seed, v4 = seed-P1,
//
// and feeds the input in 32-byte stripes, one little-endian 64-bit lane
// per accumulator: acc' = rotl(acc + lane*P2, 31) * P1. The final hash of
// an input of exactly two stripes (no tail) depends only on the state after
// them and the length. The round is a bijection of the lane for a fixed
// acc: P1 and P2 are odd, so invertible mod 2^64, and a rotation is
// undone by the opposite one. So for any first stripe, the second stripe
// that brings the state to a chosen target is, lane by lane,
//
//	lane = (rotr(target * P1^-1, 31) - acc) * P2^-1.
//
// Taking as target the state of a victim key gives any number of distinct
// 64-byte keys with the victim's hash, with any first stripe we like.
const (
	xxPrime1 uint64 = 11400714785074694791
	xxPrime2 uint64 = 14029467366897019727

	xxStripeLen     = 32
	collidingKeyLen = 2 * xxStripeLen
)

var (
	xxPrime1Inv = inverseOdd(xxPrime1)
	xxPrime2Inv = inverseOdd(xxPrime2)
)

// inverseOdd returns the inverse of an odd a mod 2^64, by Newton's
// iteration x' = x*(2 - a*x): if a*x = 1 mod 2^k, then a*x' = 1 mod 2^2k.
// x = a is right to 3 bits (the square of an odd number is 1 mod 8), so
// five steps give 96 >= 64 bits.
func inverseOdd(a uint64) uint64 {
	x := a
	for range 5 {
		x *= 2 - a*x
	}
	return x
}

// xxLanes are XXH64's four lane accumulators.
type xxLanes [4]uint64

// xxStart returns the accumulators before any stripe, for seed 0.
func xxStart() xxLanes {
	p1, p2 := xxPrime1, xxPrime2 // variables: the constant sums overflow
	return xxLanes{p1 + p2, p2, 0, -p1}
}

// xxRound is XXH64's lane round.
func xxRound(acc, lane uint64) uint64 {
	return bits.RotateLeft64(acc+lane*xxPrime2, 31) * xxPrime1
}

// xxUnround returns the lane that takes acc to next: xxRound(acc,
// xxUnround(acc, next)) == next.
func xxUnround(acc, next uint64) uint64 {
	return (bits.RotateLeft64(next*xxPrime1Inv, -31) - acc) * xxPrime2Inv
}

// absorb feeds one 32-byte stripe into the accumulators.
func (v *xxLanes) absorb(stripe string) {
	b := []byte(stripe)
	for i := range v {
		v[i] = xxRound(v[i], binary.LittleEndian.Uint64(b[8*i:]))
	}
}

// xxLanesOf returns the accumulators after every stripe of key, whose
// length must be a multiple of 32.
func xxLanesOf(key string) xxLanes {
	if len(key)%xxStripeLen != 0 {
		panic(fmt.Sprintf("xxLanesOf: key of %d bytes is not whole stripes", len(key)))
	}
	v := xxStart()
	for i := 0; i < len(key); i += xxStripeLen {
		v.absorb(key[i : i+xxStripeLen])
	}
	return v
}

// solveStripe returns the 32-byte stripe that takes the accumulators from
// to target.
func solveStripe(from, target xxLanes) string {
	var b [xxStripeLen]byte
	for i := range from {
		binary.LittleEndian.PutUint64(b[8*i:], xxUnround(from[i], target[i]))
	}
	return string(b[:])
}

// collidingKeys returns n distinct 64-byte keys, all different from victim
// (64 bytes too), whose unseeded XXH64 equals victim's. Key i starts with
// the stripe prefix + "#" + i, padded with '.' to 32 bytes, and ends with
// the stripe that brings the state to victim's.
func collidingKeys(victim, prefix string, n int) []string {
	if len(victim) != collidingKeyLen {
		panic(fmt.Sprintf("collidingKeys: victim of %d bytes, want %d", len(victim), collidingKeyLen))
	}
	target := xxLanesOf(victim)
	keys := make([]string, 0, n)
	for i := 0; len(keys) < n; i++ {
		first := fmt.Sprintf("%s#%d", prefix, i)
		if len(first) > xxStripeLen {
			panic(fmt.Sprintf("collidingKeys: prefix %q leaves no room for counter %d", prefix, i))
		}
		first += strings.Repeat(".", xxStripeLen-len(first))
		if first == victim[:xxStripeLen] {
			continue // the second stripe would be victim's: the same key
		}
		v := xxStart()
		v.absorb(first)
		keys = append(keys, first+solveStripe(v, target))
	}
	return keys
}

// profileKey returns the 64-byte printable key "user:profile:<id>:",
// padded with '.'.
func profileKey(id string) string {
	k := "user:profile:" + id + ":"
	return k + strings.Repeat(".", collidingKeyLen-len(k))
}

func TestInverseOdd(t *testing.T) {
	for _, a := range []uint64{1, 3, xxPrime1, xxPrime2, 1<<64 - 1, 0x9e3779b97f4a7c15} {
		require.Equal(t, uint64(1), a*inverseOdd(a), "a = %d", a)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		acc, lane := r.Uint64(), r.Uint64()
		require.Equal(t, lane, xxUnround(acc, xxRound(acc, lane)))
	}
}

func TestCollidingKeysGenerator(t *testing.T) {
	victim := profileKey("42")
	require.Len(t, victim, collidingKeyLen)
	want := xxhash.Sum64String(victim)

	const n = 10000
	keys := collidingKeys(victim, "user:profile:", n)
	require.Len(t, keys, n)
	seen := make(map[string]bool, n+1)
	seen[victim] = true
	for i, k := range keys {
		require.Len(t, k, collidingKeyLen, "key %d", i)
		require.False(t, seen[k], "key %d (%q) repeats", i, k)
		seen[k] = true
		require.Equal(t, want, xxhash.Sum64String(k), "key %d (%q)", i, k)
	}
	require.Equal(t, "user:profile:#17................", keys[17][:xxStripeLen])

	// Any 64-byte key can be the victim, printable or not.
	r := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		var b [collidingKeyLen]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		v := string(b[:])
		for _, k := range collidingKeys(v, "x", 3) {
			require.NotEqual(t, v, k)
			require.Equal(t, xxhash.Sum64String(v), xxhash.Sum64String(k))
		}
	}
}

// valueFor is a value unique to key i, so that a Get that returned another
// key's value would show.
func valueFor(i int) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(i))
}

// entryBytes is what an entry takes in a segment (Options.MaxBytes): a
// 16-byte header, key and value, rounded up to 8 bytes.
func entryBytes(key, value int) int64 { return int64(16+key+value+7) &^ 7 }

// TestCollidingKeysAllKept stores many keys with one unseeded XXH64 hash in
// a cache with room for all of them: each must be kept, with its own value.
func TestCollidingKeysAllKept(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	keys := collidingKeys(profileKey("victim"), "user:profile:", n)
	// Over 4 times what the entries take, so that however the keys
	// spread over the shards, none runs out of room.
	const budget = 64 << 20
	require.Less(t, 4*int64(n)*entryBytes(collidingKeyLen, 8), int64(budget))
	c, err := New(Options{MaxBytes: budget})
	require.NoError(t, err)
	defer c.Close()

	// Plain checks in the loops: require's cost per call adds up, under
	// -race, over 100,000 keys.
	for i, k := range keys {
		if err := c.Set(k, valueFor(i), 0); err != nil {
			t.Fatalf("Set of key %d: %v", i, err)
		}
	}
	lost := 0
	for i, k := range keys {
		v, ok := c.Get(k)
		if !ok {
			lost++
			continue
		}
		if !bytes.Equal(v, valueFor(i)) {
			t.Fatalf("key %d got value %x, want %x", i, v, valueFor(i))
		}
	}
	require.Zero(t, lost, "%d of %d keys with one XXH64 hash were lost", lost, n)
	require.Equal(t, n, c.Len())
	require.Zero(t, c.Stats().Evictions)
}

// TestCollidingKeyCannotEvictHotKey: a hot key kept through eviction churn
// by being read must not be pushed out by keys built to share its unseeded
// XXH64 hash.
func TestCollidingKeyCannotEvictHotKey(t *testing.T) {
	hot := profileKey("admin")
	hotValue := []byte("the hot profile")
	c, err := New(Options{MaxBytes: 1 << 20})
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, c.Set(hot, hotValue, 0))
	readHot := func(when string) {
		t.Helper()
		v, ok := c.Get(hot)
		require.True(t, ok, "hot key lost %s", when)
		require.Equal(t, hotValue, v, "hot key's value %s", when)
	}
	readHot("right after its Set")

	// Churn: random keys through a 1 MiB cache, about 4.5 times its
	// size, reading the hot key every few Sets so that it is kept (a
	// retired segment's entries that were read move on; the rest go).
	const churn, readEvery = 20000, 4
	value := make([]byte, 200)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range churn {
		require.NoError(t, c.Set(fmt.Sprintf("random:%016x", r.Uint64()), value, 0))
		if i%readEvery == readEvery-1 {
			readHot(fmt.Sprintf("after %d random Sets", i+1))
		}
	}
	require.Positive(t, c.Stats().Evictions, "the churn should have evicted")

	// The attack: keys with the hot key's XXH64, with the same reads
	// (and one after each of the first few Sets, to say when it was lost).
	const attack = 2000
	for i, k := range collidingKeys(hot, "user:profile:", attack) {
		require.NoError(t, c.Set(k, value, 0))
		if i < readEvery || i%readEvery == readEvery-1 {
			readHot(fmt.Sprintf("after %d colliding Sets", i+1))
		}
	}
	readHot("at the end")
}

// TestGetOrLoadCollidingKeys: two keys with one unseeded XXH64 hash, loaded
// alternately, are each loaded once and then hit.
func TestGetOrLoadCollidingKeys(t *testing.T) {
	a := profileKey("alice")
	b := collidingKeys(a, "user:profile:", 1)[0]
	require.Equal(t, xxhash.Sum64String(a), xxhash.Sum64String(b))

	c, err := New(Options{})
	require.NoError(t, err)
	defer c.Close()

	// The loads run in GetOrLoad's goroutines: count them atomically.
	keys := [2]string{a, b}
	var loads [2]atomic.Int64
	ctx := context.Background()
	const calls = 1000
	for i := range calls {
		key := keys[i%2]
		v, err := c.GetOrLoad(ctx, key, func(context.Context) ([]byte, time.Duration, error) {
			loads[i%2].Add(1)
			return []byte("value of " + key), 0, nil
		})
		require.NoError(t, err)
		require.Equal(t, "value of "+key, string(v), "call %d", i)
	}
	la, lb := loads[0].Load(), loads[1].Load()
	require.True(t, la == 1 && lb == 1,
		"over %d alternating calls, key a was loaded %d times and key b %d times; want once each", calls, la, lb)
	require.Equal(t, uint64(2), c.Stats().Loads)
}

// TestSketchFlood: under MaxEntries, a working set read through the cache
// keeps its hit ratio while an attacker floods the cache with distinct keys
// that share one unseeded XXH64 hash (and so would share the sketch's four
// counters and look popular), and does no worse than under a flood of as
// many random keys.
func TestSketchFlood(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 5000
	}
	// Both floods have the same shape: 64-byte keys whose first stripe is
	// "user:profile:#<i>...". The colliding flood ends each with the
	// stripe that gives it the victim's hash, the random one with random
	// bytes.
	n := rounds * sketchFloodPerRound
	colliding := collidingKeys(profileKey("flood"), "user:profile:", n)
	random := make([]string, n)
	r := rand.New(rand.NewPCG(9, 10))
	for i, k := range colliding {
		var b [xxStripeLen]byte
		for j := 0; j < len(b); j += 8 {
			binary.LittleEndian.PutUint64(b[j:], r.Uint64())
		}
		random[i] = k[:xxStripeLen] + string(b[:])
	}

	withColliding := sketchFloodHitRatio(t, "colliding", colliding)
	withRandom := sketchFloodHitRatio(t, "random", random)
	// A seeded cache keeps the whole working set under either flood (hit
	// ratio 1 in the second half, measured): the bounds leave margin.
	require.GreaterOrEqual(t, withColliding, 0.95, "hit ratio under a flood of keys with one XXH64 hash")
	require.GreaterOrEqual(t, withColliding, withRandom-0.01, "the colliding flood does worse than a random one")
}

const (
	sketchFloodWorkingSet = 500
	sketchFloodMaxEntries = 2 * sketchFloodWorkingSet
	sketchFloodPerRound   = 2 // flood Sets per working-set read
)

// sketchFloodHitRatio runs one working-set read per round, read-through
// (Get, and Set on a miss), and sketchFloodPerRound Sets of the next flood
// keys, in a cache of 1,000 entries, and returns the working set's hit
// ratio over the second half of the rounds. The keys read are drawn from a
// fixed seed: every run makes the same calls, in the same order.
func sketchFloodHitRatio(t *testing.T, name string, flood []string) float64 {
	t.Helper()
	c, err := New(Options{MaxEntries: sketchFloodMaxEntries, MaxBytes: 64 << 20})
	require.NoError(t, err)
	defer c.Close()

	r := rand.New(rand.NewPCG(11, 12))
	floodValue := []byte("attacker")
	rounds := len(flood) / sketchFloodPerRound
	hits, reads := 0, 0
	for round := range rounds {
		i := r.IntN(sketchFloodWorkingSet)
		key := fmt.Sprintf("item:%03d", i)
		v, ok := c.Get(key)
		if ok && !bytes.Equal(v, valueFor(i)) {
			t.Fatalf("%s got value %x, want %x", key, v, valueFor(i))
		}
		if !ok {
			if err := c.Set(key, valueFor(i), 0); err != nil {
				t.Fatalf("Set of %s: %v", key, err)
			}
		}
		if round >= rounds/2 {
			reads++
			if ok {
				hits++
			}
		}
		for _, k := range flood[round*sketchFloodPerRound : (round+1)*sketchFloodPerRound] {
			if err := c.Set(k, floodValue, 0); err != nil {
				t.Fatalf("Set of a flood key: %v", err)
			}
		}
	}
	ratio := float64(hits) / float64(reads)
	s := c.Stats()
	t.Logf("%s flood of %d keys: working set hit ratio %.4f over the second half; %d entries, %d evictions",
		name, len(flood), ratio, s.Entries, s.Evictions)
	// Nothing expires or is deleted, so every distinct key stored beyond
	// what the cache holds was evicted: a flood that did not cycle through
	// the cache tested nothing.
	require.GreaterOrEqual(t, s.Evictions, uint64(len(flood)-sketchFloodMaxEntries),
		"the %s flood's distinct keys did not all enter the cache", name)
	return ratio
}

// TestSetAndReadOnceFlood: under MaxEntries, keys an attacker sets and
// reads once each (a request for a key, then a second one: a miss that
// loads it, then a hit), or sets twice each, do not push out a working set
// read again and again. A read or a second write in the small queue earns
// a key no place in the main queue of its own: it competes, by the
// sketch's count, with the main queue's next victim.
func TestSetAndReadOnceFlood(t *testing.T) {
	value := make([]byte, 32)
	for _, flood := range []struct {
		name string
		once func(c *Cache, key string)
		// before is the working set's hit ratio in the second half when
		// such a key went straight into the main queue.
		before float64
	}{
		{"set and read once", func(c *Cache, key string) {
			require.NoError(t, c.Set(key, value, 0))
			c.Get(key)
		}, 0.67},
		{"set twice", func(c *Cache, key string) {
			require.NoError(t, c.Set(key, value, 0))
			require.NoError(t, c.Set(key, value, 0))
		}, 0.49},
	} {
		t.Run(flood.name, func(t *testing.T) {
			ratio := workingSetUnderFlood(t, value, flood.once)
			// Every read was a hit in the second half, measured.
			require.GreaterOrEqual(t, ratio, 0.95,
				"the working set's hit ratio under the flood (%.2f when such keys went straight into the main queue)", flood.before)
		})
	}
}

// workingSetUnderFlood reads a working set of 5,000 keys in turn, each
// once per 5,000 rounds, in a cache of 10,000 entries, while every round
// floods it with a new key through once, and returns the working set's
// hit ratio over the second half of the rounds.
func workingSetUnderFlood(t *testing.T, value []byte, once func(c *Cache, key string)) float64 {
	const workingSet, maxEntries, rounds = 5000, 10000, 60000
	c, err := New(Options{MaxEntries: maxEntries, MaxBytes: 64 << 20, Shards: 2})
	require.NoError(t, err)
	defer c.Close()
	for i := range workingSet {
		require.NoError(t, c.Set(fmt.Sprintf("item:%05d", i), value, 0))
	}
	r := rand.New(rand.NewPCG(13, 14))
	hits, reads := 0, 0
	for round := range rounds {
		once(c, fmt.Sprintf("flood:%016x", r.Uint64()))
		key := fmt.Sprintf("item:%05d", round%workingSet)
		_, ok := c.Get(key)
		if !ok {
			require.NoError(t, c.Set(key, value, 0))
		}
		if round >= rounds/2 {
			reads++
			if ok {
				hits++
			}
		}
	}
	return float64(hits) / float64(reads)
}

// TestDeleteAndSetDoNotPump: a client that can Delete keys of its own
// deletes and sets again, in turn, each key of a pool of 60% of a working
// set's size, while it sets one new key a round that no one reads, in a
// cache of twice the working set's entries (pool and working set fill
// 80% of it). Each key set again after a Delete is a new key to the
// cache; were it counted by the admission sketch each time, the pool's
// keys would look more popular than the working set, read once per turn,
// and push it out.
func TestDeleteAndSetDoNotPump(t *testing.T) {
	for _, tc := range []struct{ workingSet, shards int }{
		{625, 1}, {2500, 1}, {5000, 2}, {5000, 16},
	} {
		t.Run(fmt.Sprintf("%d keys, %d shards", tc.workingSet, tc.shards), func(t *testing.T) {
			ratio := pumpedWorkingSet(t, tc.workingSet, tc.shards)
			t.Logf("hit ratio %.4f", ratio)
			require.GreaterOrEqual(t, ratio, 0.95, "the working set's hit ratio in the second half")
		})
	}
}

// pumpedWorkingSet runs TestDeleteAndSetDoNotPump's rounds and returns the
// working set's hit ratio over the second half of them.
func pumpedWorkingSet(t *testing.T, workingSet, shards int) float64 {
	c, err := New(Options{MaxEntries: 2 * workingSet, MaxBytes: 64 << 20, Shards: shards})
	require.NoError(t, err)
	defer c.Close()
	pool := workingSet * 6 / 10
	rounds := 16 * workingSet
	attacker := []byte("attacker")
	hits, reads := 0, 0
	for round := range rounds {
		i := round % workingSet
		key := fmt.Sprintf("item:%05d", i)
		v, ok := c.Get(key)
		if ok && !bytes.Equal(v, valueFor(i)) {
			t.Fatalf("%s got value %x, want %x", key, v, valueFor(i))
		}
		if !ok {
			require.NoError(t, c.Set(key, valueFor(i), 0))
		}
		if round >= rounds/2 {
			reads++
			if ok {
				hits++
			}
		}
		require.NoError(t, c.Set(fmt.Sprintf("once:%08d", round), attacker, 0))
		p := fmt.Sprintf("pool:%05d", round%pool)
		c.Delete(p)
		require.NoError(t, c.Set(p, attacker, 0))
	}
	return float64(hits) / float64(reads)
}
