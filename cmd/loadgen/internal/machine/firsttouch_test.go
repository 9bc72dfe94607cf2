//go:build unix

package machine

import (
	"syscall"
	"testing"
)

// BenchmarkFirstTouch writes one byte per 4 KiB page of 64 MiB mapped
// fresh from the kernel (and unmapped after): each write takes a page
// fault, in which the kernel maps and zeroes the page (and in a VM the
// host may have to back it). A log-structured cache pays this for every
// page of its budget the first time it fills it; after that it reuses the
// pages it holds. ns/page is per page.
func BenchmarkFirstTouch(b *testing.B) {
	const size, page = 64 << 20, 4 << 10
	for range b.N {
		buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < size; i += page {
			buf[i] = 1
		}
		if err := syscall.Munmap(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size/page), "ns/page")
}
