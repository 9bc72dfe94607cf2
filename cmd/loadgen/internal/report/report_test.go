package report

import (
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestThrottledProgress: off a terminal, progress lines come through at
// most one per interval, the first at once.
func TestThrottledProgress(t *testing.T) {
	var b strings.Builder
	w := &throttled{w: &b, every: time.Hour}
	for i := range 5 {
		_, _ = io.WriteString(w, "line "+strconv.Itoa(i)+"\n")
	}
	if got := b.String(); got != "line 0\n" {
		t.Fatalf("wrote %q, want the first line only", got)
	}
	w.every = 0
	_, _ = io.WriteString(w, "line 5\n")
	if got := b.String(); got != "line 0\nline 5\n" {
		t.Fatalf("wrote %q", got)
	}
}

// TestHandoff: with two processors the handoff is measured (or, on a
// machine too busy to run the two goroutines together, reported as
// unmeasured), and it ends; with one it is not measured.
func TestHandoff(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if d := Handoff(); d < 0 || d > handoffTime {
		t.Fatalf("Handoff = %v with two processors", d)
	}
	runtime.GOMAXPROCS(1)
	if d := Handoff(); d != 0 {
		t.Fatalf("Handoff = %v with one processor, want 0", d)
	}
}
