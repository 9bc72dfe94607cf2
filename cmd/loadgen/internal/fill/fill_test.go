package fill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/workload"
)

// TestFillTiny runs -fill for velo and otter (a cache that keeps the
// caller's slices, so the copying path runs too) on 2000 keys with 64-byte
// values at 0 and 90% overwrites, and checks the structure and sanity of
// the report, not any performance.
func TestFillTiny(t *testing.T) {
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "fill.json"), filepath.Join(dir, "fill.svg")
	cfg, err := config.Parse([]string{"-fill", "-fill-values", "64", "-fill-overwrite", "0,90", "-fill-keys", "2000",
		"-target", "velo,otter", "-json", jsonPath, "-fill-plot", plotPath})
	if err != nil {
		t.Fatal(err)
	}
	const k = 2000
	// The live set by the specification: 16-byte header + 16-byte key +
	// 64-byte value, rounded up to 8, per key; MaxBytes is that / 0.8.
	const live = k * 96
	const maxBytes = live * 10 / 8
	rep, err := measureFill(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Dists) != 1 || rep.Dists[0].Keys != k || rep.Dists[0].LiveBytes != live || rep.Dists[0].MaxBytes != maxBytes {
		t.Errorf("distributions = %+v, want one of %d keys, live %d, MaxBytes %d", rep.Dists, k, live, maxBytes)
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("%d rows, want 4 (2 overwrite shares x 2 targets)", len(rep.Rows))
	}
	i := 0
	for _, p := range []int{0, 90} {
		for _, target := range []string{"velo", "otter"} {
			r := rep.Rows[i]
			i++
			t.Logf("%s %d%%: kept %.4f wrong %d live/Max %.3f held/Max %.3f peak/Max %.2f allocs/Set %.3f write amp %.3f",
				r.Target, r.Overwrite, r.KeptFraction, r.Wrong, r.LiveRatio, r.HeldRatio, r.PeakRatio, r.AllocsPerSet, r.WriteAmp)
			wantSets := map[int]int{0: k, 90: 10 * k}[p]
			switch {
			case r.Target != target || r.Overwrite != p || r.Values != "64" || r.Keys != k || r.Error != "":
				t.Errorf("row %d = %s %d%% %s K=%d (error %q), want %s %d%% 64", i, r.Target, r.Overwrite, r.Values, r.Keys, r.Error, target, p)
			case r.MaxBytes != maxBytes || r.BoundBytes != maxBytes:
				t.Errorf("%s %d%%: MaxBytes %d, bound %d, want %d", target, p, r.MaxBytes, r.BoundBytes, maxBytes)
			case r.Sets != wantSets || r.Overwrites != wantSets-k:
				t.Errorf("%s %d%%: %d Sets, %d overwrites, want %d", target, p, r.Sets, r.Overwrites, wantSets)
			case r.KeptFraction < 0 || r.KeptFraction > 1 || r.KeptFraction != float64(r.Kept)/k:
				t.Errorf("%s %d%%: kept %d, fraction %v", target, p, r.Kept, r.KeptFraction)
			case r.Wrong != 0:
				t.Errorf("%s %d%%: %d wrong values", target, p, r.Wrong)
			case r.KeptBytes != int64(r.Kept)*96 || r.KeptBytes > live:
				t.Errorf("%s %d%%: kept bytes %d for %d keys", target, p, r.KeptBytes, r.Kept)
			case r.BaseHeap == 0 || r.PeakHeap == 0 || r.PeakRatio != float64(r.PeakBytes)/maxBytes:
				t.Errorf("%s %d%%: base heap %d, peak %d, ratio %v", target, p, r.BaseHeap, r.PeakHeap, r.PeakRatio)
			case r.AllocsPerInsert < 0 || r.AllocsPerSet < 0 || (p == 0 && r.AllocsPerSet != 0):
				t.Errorf("%s %d%%: allocs per insert %v, per overwrite %v", target, p, r.AllocsPerInsert, r.AllocsPerSet)
			case r.HarnessCopies != (target == "otter"):
				t.Errorf("%s: harness copies %v", target, r.HarnessCopies)
			}
			if target == "velo" {
				if r.HeldBytes <= 0 || r.HeldBytes > maxBytes || r.LiveBytes > r.HeldBytes || r.SetBytes < int64(r.Sets-int(r.Rejected))*96 || r.WriteAmp < 1 {
					t.Errorf("velo %d%%: live %d held %d set %d moved %d, write amp %v", p, r.LiveBytes, r.HeldBytes, r.SetBytes, r.MovedBytes, r.WriteAmp)
				}
			} else if r.LiveBytes != r.KeptBytes || r.HeldBytes != 0 || r.WriteAmp != 0 {
				t.Errorf("%s %d%%: live %d (kept %d), held %d, write amp %v", target, p, r.LiveBytes, r.KeptBytes, r.HeldBytes, r.WriteAmp)
			}
		}
	}

	// The table, the JSON file and the plot.
	var out bytes.Buffer
	printFillTable(&out, rep)
	if s := out.String(); !strings.Contains(s, "| 64 ") || !strings.Contains(s, "otter") || strings.Contains(s, "WRONG") {
		t.Errorf("table:\n%s", s)
	}
	if err := runFillFiles(cfg, rep, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back fillReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", back, *rep)
	}
	if svg, err := os.ReadFile(plotPath); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("plot: %v, %d bytes", err, len(svg))
	}
}

// TestFillWorkload checks the value stamps, the sizes of each
// distribution, the default K and the number of Sets.
func TestFillWorkload(t *testing.T) {
	for _, d := range workload.ValueDists {
		wl := newFillWorkload(d, 64, 0.8, 1)
		var live int64
		sizes := map[int]bool{}
		for i := range int32(64) {
			if want := fmt.Sprintf("%016d", i); wl.key(i) != want {
				t.Errorf("%s: key %d is %q", d.Name, i, wl.key(i))
			}
			n := wl.size(i)
			sizes[n] = true
			if n < d.Lo || n > d.Hi || (d.Alt && n != map[bool]int{true: d.Lo, false: d.Hi}[i%2 == 0]) {
				t.Errorf("%s: key %d has %d bytes", d.Name, i, n)
			}
			live += int64(16+16+n+7) / 8 * 8
		}
		if d.Lo < d.Hi && !d.Alt && len(sizes) < 32 {
			t.Errorf("%s: only %d different sizes among 64 keys", d.Name, len(sizes))
		}
		if wl.live != live || wl.maxBytes != int64(float64(live)/0.8) {
			t.Errorf("%s: live %d, MaxBytes %d; want %d, %d", d.Name, wl.live, wl.maxBytes, live, int64(float64(live)/0.8))
		}
		if o := slices.Sorted(slices.Values(wl.order)); o[0] != 0 || o[63] != 63 || len(slices.Compact(o)) != 64 {
			t.Errorf("%s: order is not a permutation", d.Name)
		}
		// Each version differs from the last, in its first and last bytes
		// (the stamp), and latest gives the last one written again.
		_, v := wl.next(3)
		v1 := slices.Clone(v)
		k3, v := wl.next(3)
		v2 := slices.Clone(v)
		if k3 != wl.key(3) || len(v2) != wl.size(3) || bytes.Equal(v1, v2) || v1[0] == v2[0] && v1[len(v1)-1] == v2[len(v2)-1] {
			t.Errorf("%s: versions 1 and 2 of key 3: %x, %x", d.Name, v1[:min(len(v1), 16)], v2[:min(len(v2), 16)])
		}
		if got := wl.latest(3); !bytes.Equal(got, v2) {
			t.Errorf("%s: latest(3) is not version 2", d.Name)
		}
		if _, v := wl.next(5); bytes.Equal(v, v2) {
			t.Errorf("%s: key 5 has key 3's value", d.Name)
		}
		k := d.DefaultKeys(fillLiveTarget)
		if est := float64(k) * d.MeanEntry(); est < 47<<20 || est > 49<<20 {
			t.Errorf("%s: default K %d gives a live set of %.1f MiB", d.Name, k, est/(1<<20))
		}
	}
	for _, tc := range [][3]int{{2000, 0, 2000}, {2000, 50, 4000}, {2000, 90, 20000}, {2000, 99, 200000}, {3, 50, 6}, {7, 90, 70}, {1, 99, 100}} {
		if got := fillSets(tc[0], tc[1]); got != tc[2] {
			t.Errorf("fillSets(%d, %d) = %d, want %d", tc[0], tc[1], got, tc[2])
		}
	}
	// The Zipf draws stay within K.
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), fillZipfS, 1, 9)
	for range 1000 {
		if r := z.Uint64(); r > 9 {
			t.Fatalf("zipf rank %d", r)
		}
	}
}
