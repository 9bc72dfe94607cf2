package engine

import (
	"reflect"
	"runtime"
)

// OnStack reports whether the calling goroutine is running the function
// fn: whether a frame of fn is on its stack. Close uses it to tell whether
// it was called from a goroutine it would otherwise wait for (the sweep,
// through a callback; velo's loads), which would wait for itself. It walks
// the whole stack, a few microseconds: for Close, not for hot paths.
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
