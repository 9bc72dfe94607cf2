package arena

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
)

// The benchmarks in this file are the measurement behind the read-path
// design (docs/design.md): copying a value out of immutable memory with
// memmove, against the alternative of a segment reused in place, which would
// need every word written with atomic stores and read with atomic loads
// (a seqlock) to be correct and race-detector clean.

var copySizes = []int{16, 64, 256, 1024, 4096}

const copyArea = 1 << 20

func BenchmarkCopyOut(b *testing.B) {
	words := make([]uint64, copyArea/8)
	bytes := make([]byte, copyArea)
	for _, n := range copySizes {
		b.Run(fmt.Sprintf("memmove/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			dst := make([]byte, n)
			for i := 0; i < b.N; i++ {
				off := (i * 4096) % (copyArea - 4096)
				copy(dst, bytes[off:off+n])
			}
		})
		b.Run(fmt.Sprintf("atomic-words/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			dst := make([]byte, n)
			for i := 0; i < b.N; i++ {
				off := ((i * 4096) % (copyArea - 4096)) / 8
				w := words[off : off+n/8]
				for j := range w {
					binary.LittleEndian.PutUint64(dst[j*8:], atomic.LoadUint64(&w[j]))
				}
			}
		})
	}
}

func BenchmarkCopyIn(b *testing.B) {
	words := make([]uint64, copyArea/8)
	bytes := make([]byte, copyArea)
	for _, n := range copySizes {
		src := make([]byte, n)
		b.Run(fmt.Sprintf("memmove/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				off := (i * 4096) % (copyArea - 4096)
				copy(bytes[off:off+n], src)
			}
		})
		b.Run(fmt.Sprintf("atomic-words/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				off := ((i * 4096) % (copyArea - 4096)) / 8
				for j := 0; j < n/8; j++ {
					atomic.StoreUint64(&words[off+j], binary.LittleEndian.Uint64(src[j*8:]))
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	value := make([]byte, 64)
	s := NewSegment(1<<20, 0)
	b.SetBytes(int64(EntrySize(16, 64)))
	for i := 0; i < b.N; i++ {
		if _, ok := s.Append("0123456789abcdef", value, 0, 0); !ok {
			s = NewSegment(1<<20, 0)
		}
	}
}
