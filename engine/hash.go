package engine

import (
	"hash/maphash"
	"math/rand/v2"
	"unsafe"
)

// A keyHasher hashes keys under a random seed of its own: the Go runtime's
// map hash (AES rounds where the CPU has AES, wyhash elsewhere), which
// hash/maphash also uses.
//
// The index keeps one location per 64-bit hash, and the sketch counts
// hashes, so keys that share a hash displace each other and share their
// counts. With an unseeded hash anyone could compute such keys; with a
// random seed, which never leaves the process, the hashes of keys are
// unknown to whoever picks them, and two keys collide only by chance
// (about n*n/2^65 for n keys). docs/design.md measures the cost.
//
// Where a uintptr has 64 bits, the hash is the runtime's memhash called
// directly, the function maphash.Comparable calls for a string through
// the map type's hasher; maphash.Comparable itself costs 17 instructions
// more per key (docs/benchmarks.md). Elsewhere memhash gives 32 bits, so
// maphash.Comparable runs it twice under two halves of the seed, and
// hash is that.
type keyHasher struct {
	seed   uintptr      // memhash's seed (math/rand/v2's generator, seeded by the runtime)
	seed64 maphash.Seed // for maphash.Comparable where uintptr is 32 bits
}

func newKeyHasher() keyHasher {
	return keyHasher{seed: uintptr(rand.Uint64()), seed64: maphash.MakeSeed()}
}

// memhash is the runtime's hash of s bytes at p under seed h, the one its
// maps use. The runtime keeps it for the packages that link to it
// (go.dev/issue/67401; xsync, which velo requires, is one of them).
//
//go:linkname memhash runtime.memhash
//go:noescape
func memhash(p unsafe.Pointer, h, s uintptr) uintptr

func (k *keyHasher) hash(key string) uint64 {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		return uint64(memhash(unsafe.Pointer(unsafe.StringData(key)), k.seed, uintptr(len(key))))
	}
	return maphash.Comparable(k.seed64, key)
}
