package report

import (
	"io"
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
