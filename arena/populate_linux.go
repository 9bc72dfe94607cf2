package arena

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is Linux's MADV_POPULATE_WRITE (5.14 and later, the
// same value on every architecture): fault the range's pages in, writable,
// without changing what they hold.
const madvPopulateWrite = 23

var (
	pageSize = uintptr(syscall.Getpagesize())
	// populateFails is set once the kernel refuses madvPopulateWrite (an
	// older kernel answers EINVAL), so that later segments do not ask
	// again.
	populateFails atomic.Bool
)

// populate faults in the pages of b with one system call, and reports
// whether it did; it does not when b does not start on a page boundary
// (the Go heap gives objects above 32 KiB whole pages of their own, not
// always smaller ones) or the kernel lacks the call. On the project's VM
// a page's first write costs 10.5 µs when it faults, and about 0.6 µs
// for this call plus 4.5 µs for that write after it (the host still
// maps the page on its first write).
func populate(b []byte) bool {
	p := unsafe.Pointer(unsafe.SliceData(b))
	if len(b) == 0 || uintptr(p)%pageSize != 0 || populateFails.Load() {
		return false
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(p), uintptr(len(b)), madvPopulateWrite); errno != 0 {
		populateFails.Store(true)
		return false
	}
	return true
}
