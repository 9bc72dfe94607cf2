// Package workload generates what the workers run and runs them: the key
// strings, a stream of key indices drawn from a Zipf, scrambled Zipf,
// uniform or sequential distribution, the values, the read/write mix, and
// the one worker loop every measuring mode drives. Everything it generates
// is made before timing starts and is the same for every target.
package workload

import (
	"cmp"
	"fmt"
	"math/rand/v2"
)

// DefaultStreamLen is the length of the key stream when Params.StreamLen
// is 0 (a power of two).
const DefaultStreamLen = 1 << 20

// Params is what a workload is generated from.
type Params struct {
	Keys      int     // distinct keys, "user:%08d"
	Dist      string  // zipf, scrambled-zipf, uniform or sequential
	ZipfS     float64 // the Zipf exponent
	StreamLen int     // key indices in the stream (a power of two); 0: DefaultStreamLen
	ValueMin  int     // values are ValueMin..ValueSize bytes
	ValueSize int
	Seed      uint64
}

// Workload is everything generated before timing starts.
type Workload struct {
	Keys   []string
	Stream []int32 // indices into Keys, a power of two of them
	// values holds valueCount values; key i is always written with
	// values[i%valueCount], so a key's size does not change between writes.
	values [][]byte
	// perKey, when set (FromTrace), holds the value of each key.
	perKey [][]byte
}

// valueCount is how many values a workload holds.
const valueCount = 1024

// Value is the value key is written with.
func (wl *Workload) Value(key int32) []byte {
	if wl.perKey != nil {
		return wl.perKey[key]
	}
	return wl.values[key%valueCount]
}

// FromTrace is a workload that replays a recorded trace: keys[ids[i]] is
// the key of access i, values[k] the value key k is written with. The
// stream is the trace from its start, gone round again up to a power of
// two in length. Its workers should read through (Worker.ReadThrough).
func FromTrace(keys []string, ids []int32, values [][]byte) *Workload {
	n := 1
	for n < len(ids) {
		n *= 2
	}
	stream := make([]int32, n)
	for i := range stream {
		stream[i] = ids[i%len(ids)]
	}
	return &Workload{Keys: keys, Stream: stream, values: values[:1], perKey: values}
}

// New generates the keys, the key stream and the values of p.
func New(p Params) *Workload {
	keys := make([]string, p.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	var next func(i int) int32
	switch p.Dist {
	case "zipf":
		z := rand.NewZipf(rng, p.ZipfS, 1, uint64(p.Keys-1))
		next = func(int) int32 { return int32(z.Uint64()) }
	case "scrambled-zipf":
		z := newScrambledZipf(p.ZipfS, uint64(p.Keys))
		next = func(int) int32 { return int32(z.next(rng)) }
	case "uniform":
		next = func(int) int32 { return int32(rng.IntN(p.Keys)) }
	default: // sequential
		next = func(i int) int32 { return int32(i % p.Keys) }
	}
	stream := make([]int32, cmp.Or(p.StreamLen, DefaultStreamLen))
	for i := range stream {
		stream[i] = next(i)
	}
	values := make([][]byte, valueCount)
	for i := range values {
		v := make([]byte, p.ValueMin+rng.IntN(p.ValueSize-p.ValueMin+1))
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		values[i] = v
	}
	return &Workload{Keys: keys, Stream: stream, values: values}
}

// MixTable spreads readPercent reads over 100 op slots in a shuffled
// order, so that writes do not come in one burst per hundred ops.
func MixTable(readPercent int, seed uint64) *[100]bool {
	var t [100]bool
	for i := range readPercent {
		t[i] = true
	}
	rng := rand.New(rand.NewPCG(seed, uint64(readPercent)))
	rng.Shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
	return &t
}
