package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestReadPlain: string keys get ids in order of first appearance;
// commas or white space separate fields; comments, blank lines and a CSV
// header are skipped; sizes are kept when every line has one.
func TestReadPlain(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		keys     []uint64
		sizes    []uint32
	}{
		{"keys only", "user:1\nuser:2\n\n# a comment\nuser:1\n", []uint64{0, 1, 0}, nil},
		{"csv with header", "key,size,ts\nsess/ab,120,1700000000\nsess/cd,80,1700000001\nsess/ab,121,1700000002\n",
			[]uint64{0, 1, 0}, []uint32{120, 80, 121}},
		{"white space", "a 10\tx\nb  20\n a 30 \n", []uint64{0, 1, 0}, []uint32{10, 20, 30}},
	} {
		td, err := readTrace(strings.NewReader(tc.in), "plain")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(td.keys, tc.keys) || !slices.Equal(td.sizes, tc.sizes) {
			t.Errorf("%s: keys %v sizes %v, want %v %v", tc.name, td.keys, td.sizes, tc.keys, tc.sizes)
		}
	}
	for _, in := range []string{"a,1\nb,x\n", "a,1\nb\n"} {
		if _, err := readTrace(strings.NewReader(in), "plain"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestTracePlainCompressed replays an application log of string keys,
// gzipped and zstd-compressed, with the format inferred from the name.
func TestTracePlainCompressed(t *testing.T) {
	var log bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 1, 2000)
	for range 20000 {
		fmt.Fprintf(&log, "/api/items/%d,%d\n", z.Uint64(), 100+rng.IntN(900))
	}
	dir := t.TempDir()
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(log.Bytes())
	gw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(log.Bytes())
	zw.Close()
	var ratios []float64
	for name, data := range map[string][]byte{"access.csv.gz": gz.Bytes(), "access.log.zst": zs.Bytes()} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".json")
		cfg, err := parseFlags([]string{"-trace", path, "-target", "velo", "-capacities", "200", "-json", out})
		if err != nil {
			t.Fatal(err)
		}
		if err := runTrace(cfg, &bytes.Buffer{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep traceReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Format != "plain" || rep.Accesses != 20000 || rep.ObjectBytes == 0 {
			t.Fatalf("%s: format %q, %d accesses, %d object bytes", name, rep.Format, rep.Accesses, rep.ObjectBytes)
		}
		for _, r := range rep.Results {
			if r.Cache == "velo" {
				ratios = append(ratios, r.HitRatio)
			}
		}
	}
	if len(ratios) != 2 || ratios[0] < 30 || ratios[1] < 30 {
		t.Fatalf("velo hit ratios %v, want two above 30%% on a Zipf log", ratios)
	}
}
