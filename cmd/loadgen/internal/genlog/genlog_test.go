package genlog

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/tracefile"
)

// TestRoundTrip writes logs, plain, gzipped and zstd-compressed, and reads
// them back with the trace reader: every request is there, each key keeps
// one size within the range, and the counts match what Write reported.
func TestRoundTrip(t *testing.T) {
	p := Params{Requests: 30000, Keys: 2000, ZipfS: 0.9, SizeMin: 100, SizeMax: 20000, Rate: 500, Seed: 7}
	dir := t.TempDir()
	var first []uint64
	for _, name := range []string{"log.csv", "log.csv.gz", "log.csv.zst"} {
		path := filepath.Join(dir, name)
		st, err := WriteFile(path, p)
		if err != nil {
			t.Fatal(err)
		}
		td, err := tracefile.Load(path, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(td.Keys) != p.Requests || len(td.Sizes) != p.Requests || len(td.Names) != st.DistinctKeys {
			t.Fatalf("%s: %d keys, %d sizes, %d names; wrote %+v", name, len(td.Keys), len(td.Sizes), len(td.Names), st)
		}
		size := map[uint64]uint32{}
		var sum int64
		for i, k := range td.Keys {
			s := td.Sizes[i]
			if s < 100 || s > 20000 {
				t.Fatalf("size %d outside 100..20000", s)
			}
			if prev, ok := size[k]; ok && prev != s {
				t.Fatalf("key %s has sizes %d and %d", td.Names[k], prev, s)
			} else if !ok {
				size[k] = s
				sum += int64(s)
			}
		}
		if sum != st.DistinctSize {
			t.Errorf("%s: distinct objects %d bytes, Write said %d", name, sum, st.DistinctSize)
		}
		if first == nil {
			first = td.Keys
		} else if !slices.Equal(first, td.Keys) {
			t.Errorf("%s: a different log from the same seed", name)
		}
		// 30000 requests at 500/s: about 60 s.
		if math.Abs(st.Seconds-60) > 3 {
			t.Errorf("%s: %v s of timestamps, want about 60", name, st.Seconds)
		}
	}
}

// TestZipf: the most popular key takes the share a Zipf(s) over the keys
// gives it, and log-uniform sizes have their median near the geometric
// mean of the range.
func TestZipf(t *testing.T) {
	p := Params{Requests: 200000, Keys: 1000, ZipfS: 1.2, SizeMin: 100, SizeMax: 10000, Rate: 1000, Seed: 1}
	var b bytes.Buffer
	if _, err := Write(&b, p); err != nil {
		t.Fatal(err)
	}
	td, err := tracefile.ReadPlain(&b)
	if err != nil {
		t.Fatal(err)
	}
	count := map[uint64]int{}
	for _, k := range td.Keys {
		count[k]++
	}
	top := 0
	for _, c := range count {
		top = max(top, c)
	}
	var h float64
	for r := 1; r <= p.Keys; r++ {
		h += math.Pow(float64(r), -p.ZipfS)
	}
	if want := float64(p.Requests) / h; math.Abs(float64(top)-want) > 0.05*want {
		t.Errorf("top key %d requests, want about %.0f", top, want)
	}
	size := map[uint64]uint32{}
	for i, k := range td.Keys {
		size[k] = td.Sizes[i]
	}
	below := 0
	for _, s := range size {
		if s < 1000 { // the geometric mean of 100 and 10000
			below++
		}
	}
	if f := float64(below) / float64(len(size)); f < 0.4 || f > 0.6 {
		t.Errorf("%.2f of keys below 1000 bytes", f)
	}
}

// TestRun: the -gen-log flags reach the file.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.csv.gz")
	cfg, err := config.Parse([]string{"-gen-log", path, "-gen-requests", "1000", "-gen-keys", "50", "-zipf-s", "0.8", "-value-size", "10-20"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(cfg, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || !bytes.Contains(out.Bytes(), []byte("1000 requests")) {
		t.Fatalf("%v %v %q", fi, err, out.String())
	}
}
