package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Targets, []string{"velo", "mutexmap"}) {
		t.Errorf("targets = %v", cfg.Targets)
	}
	if !slices.Equal(cfg.Mixes, []int{100, 75, 50, 25, 0}) {
		t.Errorf("mixes = %v", cfg.Mixes)
	}
	if len(cfg.Procs) == 0 || cfg.Procs[0] != 1 {
		t.Errorf("procs = %v", cfg.Procs)
	}
	if cfg.Keys != 1<<16 || cfg.ValueSize != 64 || cfg.Duration != time.Second ||
		cfg.Warmup != 200*time.Millisecond || cfg.TTL != time.Hour || cfg.Dist != "zipf" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if cfg.flags["keys"] != "65536" {
		t.Errorf("flags[keys] = %q", cfg.flags["keys"])
	}
}

func TestParseFlagsLists(t *testing.T) {
	cfg, err := parseFlags([]string{"-target", " mutexmap ", "-mix", "0, 100", "-procs", "4,1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Targets, []string{"mutexmap"}) || !slices.Equal(cfg.Mixes, []int{0, 100}) ||
		!slices.Equal(cfg.Procs, []int{4, 1}) {
		t.Errorf("got %v %v %v", cfg.Targets, cfg.Mixes, cfg.Procs)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-target", "memcached"}, "unknown target"},
		{[]string{"-target", ""}, "unknown target"},
		{[]string{"-target", "velo,velo"}, "twice"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-duration", "-1s"}, "-duration"},
		{[]string{"-warmup", "-1ms"}, "-warmup"},
		{[]string{"-mix", "101"}, "outside 0..100"},
		{[]string{"-mix", "-1"}, "outside 0..100"},
		{[]string{"-mix", "50,x"}, "not an integer"},
		{[]string{"-procs", "0"}, "outside"},
		{[]string{"-procs", "-2"}, "outside"},
		{[]string{"-procs", ""}, "not an integer"},
		{[]string{"-keys", "0"}, "-keys"},
		{[]string{"-keys", "-5"}, "-keys"},
		{[]string{"-dist", "normal"}, "-dist"},
		{[]string{"-zipf-s", "1"}, "-zipf-s"},
		{[]string{"-zipf-s", "NaN"}, "-zipf-s"},
		{[]string{"-value-size", "-1"}, "-value-size"},
		{[]string{"-capacity", "0"}, "-capacity"},
		{[]string{"-ttl", "0s"}, "-ttl"},
		{[]string{"-nosuchflag"}, "not defined"},
		{[]string{"-keys", "many"}, "invalid value"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("parseFlags(%q): error is not one line: %q", tc.args, err)
		}
	}
	if _, err := parseFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestPercentiles(t *testing.T) {
	h := newHist()
	for i := int64(1000); i >= 1; i-- {
		if err := h.RecordValue(i); err != nil {
			t.Fatal(err)
		}
	}
	// HDR histograms with 3 significant digits are exact below 2048.
	if p50, p99, p999 := percentiles(h); p50 != 500 || p99 != 990 || p999 != 999 {
		t.Errorf("percentiles = %d %d %d, want 500 990 999", p50, p99, p999)
	}
	if p50, p99, p999 := percentiles(newHist()); p50 != 0 || p99 != 0 || p999 != 0 {
		t.Errorf("percentiles(empty) = %d %d %d", p50, p99, p999)
	}
}

func TestMixTable(t *testing.T) {
	for _, pct := range []int{0, 25, 75, 100} {
		n := 0
		for _, r := range mixTable(pct, 1) {
			if r {
				n++
			}
		}
		if n != pct {
			t.Errorf("mixTable(%d) has %d reads", pct, n)
		}
	}
}

// TestEndToEnd runs a tiny load against both targets and checks the table
// and the JSON file.
func TestEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	cfg, err := parseFlags([]string{"-keys", "1000", "-duration", "50ms", "-warmup", "10ms",
		"-procs", "1", "-mix", "75", "-json", path})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 2 {
		t.Fatalf("got %d cells, want 2", len(rep.Cells))
	}
	for _, c := range rep.Cells {
		if c.Ops == 0 || c.Reads == 0 || c.Samples == 0 || c.P50ns == 0 {
			t.Errorf("%s: empty measurement: %+v", c.Target, c)
		}
		if c.ReadHits != c.Reads {
			t.Errorf("%s: %d of %d reads hit, want all", c.Target, c.ReadHits, c.Reads)
		}
	}

	var out strings.Builder
	printReport(&out, cfg, rep)
	for _, want := range []string{"procs=1", "velo/mutexmap", "mutexmap", rep.Meta.GoVersion} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	if err := writeJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	if len(back.Cells) != 2 || back.Cells[0].Ops == 0 || back.Meta.GoVersion == "" || back.Config["mix"] != "75" {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"64", 64, 64, true}, {"0", 0, 0, true}, {"32-1024", 32, 1024, true}, {" 8 - 8 ", 8, 8, true},
		{"-1", 0, 0, false}, {"10-5", 0, 0, false}, {"x", 0, 0, false}, {"1-", 0, 0, false}, {"", 0, 0, false},
	} {
		lo, hi, err := parseRange("-value-size", tc.in)
		if (err == nil) != tc.ok || tc.ok && (lo != tc.lo || hi != tc.hi) {
			t.Errorf("parseRange(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
}

func TestWorkloadDistAndSizes(t *testing.T) {
	cfg, err := parseFlags([]string{"-dist", "sequential", "-keys", "100", "-value-size", "10-20", "-target", "velo"})
	if err != nil {
		t.Fatal(err)
	}
	wl := newWorkload(cfg)
	for i := 0; i < 300; i++ {
		if wl.stream[i] != int32(i%100) {
			t.Fatalf("sequential stream[%d] = %d", i, wl.stream[i])
		}
	}
	sizes := map[int]bool{}
	for k := int32(0); k < 100; k++ {
		n := len(wl.value(k))
		if n < 10 || n > 20 {
			t.Fatalf("value of key %d has %d bytes, want 10..20", k, n)
		}
		if len(wl.value(k)) != len(wl.value(k+valueCount)) {
			t.Fatal("a key's value size must not change")
		}
		sizes[n] = true
	}
	if len(sizes) < 5 {
		t.Errorf("only %d distinct sizes in 10..20", len(sizes))
	}
}

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
