package config

import (
	"errors"
	"flag"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/velocache/velo/cmd/loadgen/internal/targets"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := Parse(nil)
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
	if cfg.Flags["keys"] != "65536" {
		t.Errorf("flags[keys] = %q", cfg.Flags["keys"])
	}
}

func TestParseFlagsLists(t *testing.T) {
	cfg, err := Parse([]string{"-target", " mutexmap ", "-mix", "0, 100", "-procs", "4,1"})
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
		{[]string{"-duration", "1ns"}, "-duration"},
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
		{[]string{"-keys", "2147483647"}, "-keys"},
		{[]string{"-plot", "out.jpg"}, ".png or .svg"},
		{[]string{"-json", "/no/such/dir/out.json"}, "no directory"},
		{[]string{"-csv", "/no/such/dir/out.csv"}, "no directory"},
		{[]string{"-procs", "65536"}, "outside"},
		{[]string{"-gc", "-trace", "x.csv"}, "cannot be combined"},
		{[]string{"-trace", "x.csv", "-redis-compare"}, "cannot be combined"},
		{[]string{"-trace", "x.csv", "-csv", "t.csv"}, "-csv"},
		{[]string{"-gc", "-csv", "t.csv"}, "-csv"},
		{[]string{"-trace", "x.csv", "-capacities", "1GiB,16GiB"}, "more than a replay holds"},
		{[]string{"-trace", "x.csv", "-capacities", "1073741824"}, "more than a replay holds"},
		{[]string{"-trace", "x.csv", "-budget", "12GiB"}, "more than a replay holds"},
		{[]string{"-trace", "x.csv", "-budget", "4MiB", "-target", "otter"}, "give -target with velo"},
		{[]string{"-trace", "x.csv", "-capacities", "1MiB,16MiB", "-target-hit", "0.5", "-target", "otter"}, "give -target with velo"},
	} {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error is not one line: %q", tc.args, err)
		}
	}
	if _, err := Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
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

// TestPresetOtter checks that -preset otter sets what it claims, and that
// a flag given on the command line wins over it.
func TestPresetOtter(t *testing.T) {
	cfg, err := Parse([]string{"-preset", "otter"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Entries != 1<<15 || !cfg.SizeByEntries() {
		t.Errorf("entries = %d, size-by %q; want 32768 entries for every cache", cfg.Entries, cfg.SizeBy)
	}
	if cfg.Keys != 1<<15/3+1 || cfg.Keys >= cfg.Entries {
		t.Errorf("keys = %d, want 0..2^15/3 (%d keys), all fitting in the cache", cfg.Keys, 1<<15/3+1)
	}
	if cfg.Dist != "scrambled-zipf" || cfg.ZipfS != 0.99 || cfg.StreamLen != 1<<15 {
		t.Errorf("dist %s s=%v stream %d, want scrambled-zipf s=0.99 stream 32768", cfg.Dist, cfg.ZipfS, cfg.StreamLen)
	}
	if cfg.ValueMin != 64 || cfg.ValueSize != 64 {
		t.Errorf("value size %d-%d, want 64", cfg.ValueMin, cfg.ValueSize)
	}
	if !slices.Equal(cfg.Mixes, []int{100, 75, 50, 25, 0}) {
		t.Errorf("mixes = %v", cfg.Mixes)
	}
	for i, p := range cfg.Procs {
		if p != 1<<i || p > max(runtime.NumCPU(), 1) {
			t.Errorf("procs = %v, want powers of two up to NumCPU", cfg.Procs)
			break
		}
	}
	if !slices.Equal(cfg.Targets, []string{"velo", "otter", "theine", "ristretto"}) {
		t.Errorf("targets = %v", cfg.Targets)
	}
	if cfg.Capacity < 64*int64(cfg.Entries)*16 {
		t.Errorf("velo's MaxBytes %d would bind before MaxEntries %d", cfg.Capacity, cfg.Entries)
	}
	// Byte-bounded peers: room for 2^15 entries of header, key and value,
	// rounded up to a MiB.
	need := int64(cfg.Entries) * int64(24+len("user:00010922")+64) // freecache's 24-byte header
	if b := targets.PeerBytes(cfg.TargetConfig()); b < need || b >= need+1<<20 || b%(1<<20) != 0 {
		t.Errorf("PeerBytes = %d, want %d rounded up to a MiB", b, need)
	}
	if cfg.Flags["preset"] != "otter" || cfg.Flags["entries"] != "32768" {
		t.Errorf("JSON config lacks the preset's values: %v", cfg.Flags)
	}

	cfg, err = Parse([]string{"-preset", "otter", "-keys", "65536", "-target", "velo"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys != 65536 || cfg.Entries != 1<<15 || !slices.Equal(cfg.Targets, []string{"velo"}) {
		t.Errorf("command-line flags must win over the preset: keys %d entries %d targets %v", cfg.Keys, cfg.Entries, cfg.Targets)
	}
	if b := targets.PeerBytes(targets.Config{Capacity: 123}); b != 123 {
		t.Errorf("PeerBytes without -size-by entries = %d, want -capacity", b)
	}
}

func TestPresetErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-preset", "caffeine"}, "-preset"},
		{[]string{"-count", "0"}, "-count"},
		{[]string{"-stream", "1000"}, "-stream"},
		{[]string{"-size-by", "items"}, "-size-by"},
		{[]string{"-size-by", "entries"}, "-entries"},
		{[]string{"-dist", "scrambled-zipf", "-zipf-s", "1.2"}, "-zipf-s"},
	} {
		if _, err := Parse(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestFillFlags(t *testing.T) {
	cfg, err := Parse([]string{"-fill"})
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Fill
	if !slices.Equal(cfg.Targets, fillDefaultTargets) || !slices.Equal(f.Values, workload.ValueDistNames()) ||
		!slices.Equal(f.Overwrite, []int{0, 50, 90}) || f.Util != 0.8 || f.Keys != 0 || f.Scale != 1 {
		t.Errorf("-fill defaults: targets %v, %+v", cfg.Targets, f)
	}
	cfg, err = Parse([]string{"-fill", "-target", "all"})
	if err != nil || !slices.Equal(cfg.Targets, []string{"velo", "otter", "ristretto", "theine", "bigcache", "freecache", "fastcache"}) {
		t.Errorf("-fill -target all: %v, %v", cfg.Targets, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-fill", "-fill-values", "64,huge"}, "unknown distribution"},
		{[]string{"-fill", "-fill-values", "64,64"}, "given twice"},
		{[]string{"-fill", "-fill-overwrite", "100"}, "outside 0..99"},
		{[]string{"-fill", "-fill-util", "0"}, "-fill-util"},
		{[]string{"-fill", "-fill-util", "1.5"}, "-fill-util"},
		{[]string{"-fill", "-fill-scale", "0"}, "-fill-scale"},
		{[]string{"-fill", "-fill-keys", "-1"}, "-fill-keys"},
		{[]string{"-fill", "-target", "mutexmap"}, "not measured by -fill"},
		{[]string{"-fill", "-gc"}, "cannot be combined"},
	} {
		if _, err := Parse(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
