package machine

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkFirstTouchPopulated is BenchmarkFirstTouch with the 64 MiB
// first faulted in by one madvise(MADV_POPULATE_WRITE) call (Linux 5.14
// and later), as velo's segment prefault does before it writes to every
// page: populate is the call alone, per page, and write the writes that
// follow it. On the project's VM the call does not make the first writes
// free, so compare the sum with BenchmarkFirstTouch's ns/page.
func BenchmarkFirstTouchPopulated(b *testing.B) {
	const madvPopulateWrite = 23 // Linux's MADV_POPULATE_WRITE
	const size, page = 64 << 20, 4 << 10
	var populate, write time.Duration
	for range b.N {
		buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(&buf[0])), size, madvPopulateWrite); errno != 0 {
			_ = syscall.Munmap(buf)
			b.Skipf("madvise(MADV_POPULATE_WRITE): %v", errno)
		}
		mid := time.Now()
		for i := 0; i < size; i += page {
			buf[i] = 1
		}
		populate += mid.Sub(start)
		write += time.Since(mid)
		if err := syscall.Munmap(buf); err != nil {
			b.Fatal(err)
		}
	}
	pages := float64(b.N * size / page)
	b.ReportMetric(float64(populate.Nanoseconds())/pages, "populate-ns/page")
	b.ReportMetric(float64(write.Nanoseconds())/pages, "write-ns/page")
	b.ReportMetric(float64((populate+write).Nanoseconds())/pages, "ns/page")
}
