package throughput

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
)

// TestEndToEnd runs a tiny load against both targets and checks the table
// and the JSON file.
func TestEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	cfg, err := config.Parse([]string{"-keys", "1000", "-duration", "50ms", "-warmup", "10ms",
		"-procs", "1", "-mix", "75", "-json", path})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := measure(cfg, io.Discard)
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
	printTable(&out, cfg, rep)
	for _, want := range []string{"procs=1", "velo/mutexmap", "mutexmap", rep.Meta.GoVersion} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	if err := report.WriteJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back runReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	if len(back.Cells) != 2 || back.Cells[0].Ops == 0 || back.Meta.GoVersion == "" || back.Config["mix"] != "75" {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
}

func TestMedianSpread(t *testing.T) {
	for _, tc := range []struct {
		in                []float64
		med, lo, hi, sprd float64
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{5}, 5, 5, 5, 0},
		{[]float64{3, 1, 2}, 2, 1, 3, 100},
		{[]float64{10, 9, 11, 12}, 10.5, 9, 12, 100 * 3 / 10.5},
		{[]float64{0, 0}, 0, 0, 0, 0},
	} {
		in := slices.Clone(tc.in)
		med, lo, hi, sprd := medianSpread(in)
		if med != tc.med || lo != tc.lo || hi != tc.hi || math.Abs(sprd-tc.sprd) > 1e-9 {
			t.Errorf("medianSpread(%v) = %v %v %v %v, want %v %v %v %v", tc.in, med, lo, hi, sprd, tc.med, tc.lo, tc.hi, tc.sprd)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("medianSpread modified its input: %v", in)
		}
	}
	if m := medianInt([]int64{100, 300, 200, 250}); m != 225 {
		t.Errorf("medianInt = %d, want 225", m)
	}
}

func TestAggregateRuns(t *testing.T) {
	runs := []cell{
		{Target: "a", Ops: 10, Reads: 8, ReadHits: 8, MopsPerSec: 3, P50ns: 100, P99ns: 1000, Seconds: 1},
		{Target: "b", Ops: 1, MopsPerSec: 1},
		{Target: "a", Ops: 20, Reads: 8, ReadHits: 6, MopsPerSec: 1, P50ns: 300, P99ns: 3000, Seconds: 1},
		{Target: "a", Ops: 30, Reads: 8, ReadHits: 8, MopsPerSec: 2, P50ns: 200, P99ns: 2000, Seconds: 1},
	}
	got := aggregateRuns(runs, []string{"b", "a", "c"})
	if len(got) != 2 || got[0].Target != "b" || got[1].Target != "a" {
		t.Fatalf("aggregateRuns = %+v", got)
	}
	a := got[1]
	if a.Count != 3 || a.MopsPerSec != 2 || a.MopsMin != 1 || a.MopsMax != 3 || a.SpreadPct != 100 ||
		a.Ops != 60 || a.Reads != 24 || a.ReadHits != 22 || a.Seconds != 3 || a.P50ns != 200 || a.P99ns != 2000 ||
		!slices.Equal(a.RunsMops, []float64{3, 1, 2}) {
		t.Errorf("aggregate of a = %+v", a)
	}
	if !strings.Contains(formatCell(a), "2.00 [1.00-3.00]!") {
		t.Errorf("formatCell = %q, want the range and the noisy mark", formatCell(a))
	}
	best, ok := bestPeer([]cell{{Target: "velo", MopsPerSec: 9}, {Target: "otter", MopsPerSec: 2}, {Target: "theine", MopsPerSec: 3}, {Target: "velo-view", MopsPerSec: 8}})
	if !ok || best.Target != "theine" {
		t.Errorf("bestPeer = %v %v, want theine", best.Target, ok)
	}
}

// TestCountInterleaved runs -count 3 on a tiny load: every target runs 3
// times per cell, the targets interleaved in a rotating order, and each
// reported cell is the median of its runs.
func TestCountInterleaved(t *testing.T) {
	cfg, err := config.Parse([]string{"-target", "velo,mutexmap,gocache", "-count", "3", "-mix", "100,0", "-procs", "1",
		"-keys", "200", "-duration", "10ms", "-warmup", "0s"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := measure(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 2*3 || len(rep.Runs) != 2*3*3 {
		t.Fatalf("%d cells and %d runs, want 6 and 18", len(rep.Cells), len(rep.Runs))
	}
	for _, c := range rep.Cells {
		var mine []float64
		for _, r := range rep.Runs {
			if r.Target == c.Target && r.ReadPercent == c.ReadPercent {
				mine = append(mine, r.MopsPerSec)
			}
		}
		med, lo, hi, _ := medianSpread(mine)
		if c.Count != 3 || len(mine) != 3 || !slices.Equal(c.RunsMops, mine) || c.MopsPerSec != med || c.MopsMin != lo || c.MopsMax != hi {
			t.Errorf("%s at %d%%: %+v, runs %v", c.Target, c.ReadPercent, c, mine)
		}
	}
	// Per cell: 3 rounds, each of every target once, the first target
	// rotating from round to round.
	var firsts []string
	for i := 0; i < len(rep.Runs); i += 3 {
		round := rep.Runs[i : i+3]
		var names []string
		for _, r := range round {
			names = append(names, r.Target)
			if r.Run != (i/3)%3+1 || r.ReadPercent != round[0].ReadPercent {
				t.Errorf("run %d: repetition %d at %d%%, want %d", i, r.Run, r.ReadPercent, (i/3)%3+1)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"gocache", "mutexmap", "velo"}) {
			t.Errorf("round %d ran %v, want each target once", i/3, names)
		}
		firsts = append(firsts, round[0].Target)
	}
	for i := 1; i < len(firsts); i++ {
		if firsts[i] == firsts[i-1] {
			t.Errorf("rounds %d and %d both start with %s: the order does not rotate (%v)", i-1, i, firsts[i], firsts)
		}
	}
	var out strings.Builder
	printTable(&out, cfg, rep)
	for _, want := range []string{"velo/best peer", "run 3 times", "["} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// The CSV says which runs its median came from.
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := writeCSV(path, rep); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+len(rep.Cells) {
		t.Fatalf("CSV: %d rows, %v", len(rows), err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for i, c := range rep.Cells {
		row := rows[1+i]
		want := map[string]string{"count": "3", "mops_per_sec": fmt.Sprintf("%.3f", c.MopsPerSec),
			"mops_min": fmt.Sprintf("%.3f", c.MopsMin), "mops_max": fmt.Sprintf("%.3f", c.MopsMax)}
		for name, v := range want {
			if j, ok := col[name]; !ok || row[j] != v {
				t.Errorf("CSV row %d: %s is not %s: %v", i, name, v, row)
			}
		}
	}

	// -count 1 keeps the report as it was: raw cells, no runs.
	cfg.Count, cfg.Mixes, cfg.Targets = 1, []int{100}, []string{"mutexmap"}
	rep, err = measure(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 1 || len(rep.Runs) != 0 || rep.Cells[0].Count != 0 || rep.Cells[0].Run != 0 {
		t.Errorf("-count 1: %+v", rep)
	}
}

// TestBestBoundedRow checks the ratio rows: against every peer, and, when
// some keep every key (the mutex map), against the bounded ones alone.
func TestBestBoundedRow(t *testing.T) {
	cfg, err := config.Parse([]string{"-target", "velo,otter,mutexmap", "-procs", "1"})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]cell{}
	for target, mops := range map[string]float64{"velo": 6, "otter": 3, "mutexmap": 12} {
		byKey[cellKey(100, 1, target)] = cell{Target: target, MopsPerSec: mops}
	}
	var out strings.Builder
	printBestPeerRow(&out, cfg, 100, byKey)
	for _, want := range []string{"velo/best peer\t0.50x mutexmap", "velo/best bounded\t2.00x otter"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rows lack %q:\n%s", want, out.String())
		}
	}
	// Redis, which only the server's maxmemory bounds, is no bounded peer.
	cfg.Targets = []string{"velo", "mutexmap", "redis"}
	byKey[cellKey(100, 1, "redis")] = cell{Target: "redis", MopsPerSec: 0.1}
	out.Reset()
	printBestPeerRow(&out, cfg, 100, byKey)
	if strings.Contains(out.String(), "bounded") {
		t.Errorf("a bounded row without bounded peers:\n%s", out.String())
	}
	cfg.Targets = []string{"velo", "otter"}
	out.Reset()
	printBestPeerRow(&out, cfg, 100, byKey)
	if strings.Contains(out.String(), "bounded") {
		t.Errorf("a bounded row without unbounded targets:\n%s", out.String())
	}
}
