package engine

import (
	"reflect"
	"runtime"
)

// OnStack reports whether the calling goroutine is running the function
// fn: whether a frame of fn is on its stack. velo uses it to tell whether
// the caller runs a load, where its stack is too deep for a look at the
// bottom frames alone. It walks the whole stack, a few microseconds: not
// for hot paths.
func OnStack(fn any) bool {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function == name {
			return true
		}
		if !more {
			return false
		}
	}
}

// GoroutineID returns the id of the calling goroutine, read from the first
// line of its stack trace ("goroutine 42 [running]:"), about a
// microsecond. Go offers no cheaper way; the id is only ever compared with
// ids it returned, to tell whether a goroutine is one that Close would
// wait for.
func GoroutineID() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	var id uint64
	for _, ch := range buf[len("goroutine "):n] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}
