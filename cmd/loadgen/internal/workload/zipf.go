package workload

import (
	"math"
	"math/rand/v2"
)

// ycsbItems and ycsbZetan are YCSB's ScrambledZipfianGenerator constants:
// ranks are drawn over 10^10 items, and zeta(10^10, 0.99) is precomputed.
const (
	ycsbItems = 10_000_000_000
	ycsbZetan = 26.46902820178302
)

// scrambledZipf draws as YCSB's ScrambledZipfianGenerator (and go-ycsb's
// NewScrambledZipfian, which otter's and Caffeine's benchmarks use): a
// Zipf(theta) rank over 10^10 items by Gray et al.'s method ("Quickly
// generating billion-record synthetic databases", SIGMOD 1994), hashed
// with 64-bit FNV onto n keys, which scatters the popular keys over the
// key space. Folding 10^10 ranks onto n keys makes it less skewed than a
// Zipf(theta) over n keys.
type scrambledZipf struct {
	n                        uint64
	theta, alpha, zetan, eta float64
}

func newScrambledZipf(theta float64, n uint64) *scrambledZipf {
	zetan := ycsbZetan
	if theta != 0.99 {
		zetan = zeta(ycsbItems, theta)
	}
	zeta2 := 1 + math.Pow(0.5, theta)
	return &scrambledZipf{
		n:     n,
		theta: theta,
		alpha: 1 / (1 - theta),
		zetan: zetan,
		eta:   (1 - math.Pow(2.0/ycsbItems, 1-theta)) / (1 - zeta2/zetan),
	}
}

// rank draws a Zipf rank in 0..10^10-1.
func (z *scrambledZipf) rank(rng *rand.Rand) uint64 {
	u := rng.Float64()
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < 1+math.Pow(0.5, z.theta):
		return 1
	}
	return uint64(ycsbItems * math.Pow(z.eta*u-z.eta+1, z.alpha))
}

func (z *scrambledZipf) next(rng *rand.Rand) uint64 { return fnv64(z.rank(rng)) % z.n }

// fnv64 is YCSB's fnvhash64: FNV-1a over the 8 bytes of v, low byte
// first, then the absolute value as a signed number.
func fnv64(v uint64) uint64 {
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	if int64(h) < 0 {
		h = -h
	}
	return h
}

// zeta is sum_{i=1..n} i^-theta, the first 1000 terms summed and the rest
// by Euler-Maclaurin (error far below what a stream of keys can show).
func zeta(n uint64, theta float64) float64 {
	const m = 1000
	if n <= m {
		s := 0.0
		for i := uint64(1); i <= n; i++ {
			s += math.Pow(float64(i), -theta)
		}
		return s
	}
	s := 0.0
	for i := 1; i < m; i++ {
		s += math.Pow(float64(i), -theta)
	}
	N, M := float64(n), float64(m)
	s += (math.Pow(N, 1-theta) - math.Pow(M, 1-theta)) / (1 - theta)
	s += (math.Pow(N, -theta) + math.Pow(M, -theta)) / 2
	s += theta / 12 * (math.Pow(M, -theta-1) - math.Pow(N, -theta-1))
	return s
}
