package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		hasUnit bool
		err     bool
	}{
		{"64MiB", 64 << 20, true, false},
		{" 1GiB ", 1 << 30, true, false},
		{"1.5GiB", 3 << 29, true, false},
		{"4KiB", 4096, true, false},
		{"1000000B", 1000000, true, false},
		{"2MB", 2000000, true, false},
		{"1 GiB", 1 << 30, true, false},
		{"1000", 0, false, false}, // a bare number: entries, not bytes
		{"xMiB", 0, true, true},
		{"-1MiB", 0, true, true},
		{"2TiB", 0, true, true}, // above MaxTraceBytes
	} {
		got, has, err := ParseBytes(tc.in)
		if got != tc.want || has != tc.hasUnit || (err != nil) != tc.err {
			t.Errorf("ParseBytes(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, got, has, err, tc.want, tc.hasUnit, tc.err)
		}
	}
	for _, b := range []int64{4096, 64 << 20, 3 << 29, 1 << 30, 1536, 1000000} {
		s := FormatBytes(b)
		got, has, err := ParseBytes(s)
		// Two decimals: the round trip is exact for these.
		if !has || err != nil || got != b {
			t.Errorf("FormatBytes(%d) = %q, which parses to %d, %v, %v", b, s, got, has, err)
		}
	}
}

func TestParseCapacities(t *testing.T) {
	e, b, err := ParseCapacities("1000, 5000")
	if err != nil || !slices.Equal(e, []int{1000, 5000}) || b != nil {
		t.Errorf("entries: %v %v %v", e, b, err)
	}
	e, b, err = ParseCapacities("64MiB,256MiB, 1GiB")
	if err != nil || e != nil || !slices.Equal(b, []int64{64 << 20, 256 << 20, 1 << 30}) {
		t.Errorf("bytes: %v %v %v", e, b, err)
	}
	for _, in := range []string{"64MiB,1000", "1KiB", "64MiB,64MiB", "0", "abc"} {
		if _, _, err := ParseCapacities(in); err == nil {
			t.Errorf("ParseCapacities(%q): no error", in)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"2M": 2e6, "500k": 5e5, "1500": 1500, "2.5M": 2.5e6, "1G": 1e9} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "xM", "2 M"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): no error", in)
		}
	}
}

func TestParsePlanFlags(t *testing.T) {
	cfg, err := Parse([]string{"-trace", "x.csv", "-capacities", "64MiB,1GiB", "-budget", "256MiB", "-target-hit", "0.9", "-refine", "3", "-rate", "2M"})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plan
	if !slices.Equal(p.CapBytes, []int64{64 << 20, 256 << 20, 1 << 30}) || p.Budget != 256<<20 || p.TargetHit != 0.9 || p.Refine != 3 || p.Rate != 2e6 {
		t.Errorf("plan %+v", p)
	}
	// -budget alone is the sweep.
	cfg, err = Parse([]string{"-trace", "x.csv", "-budget", "1GiB"})
	if err != nil || !slices.Equal(cfg.Plan.CapBytes, []int64{1 << 30}) {
		t.Errorf("-budget alone: %v %v", cfg.Plan.CapBytes, err)
	}
	// Entry capacities keep working and leave CapBytes nil.
	cfg, err = Parse([]string{"-trace", "x.csv", "-capacities", "100,200", "-target-hit", "0.5"})
	if err != nil || cfg.Plan.CapBytes != nil {
		t.Errorf("entries: %v %v", cfg.Plan.CapBytes, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-target-hit", "0.9"}, "needs -trace"},
		{[]string{"-budget", "1GiB"}, "needs -trace"},
		{[]string{"-trace", "x.csv", "-target-hit", "90"}, "-target-hit"},
		{[]string{"-trace", "x.csv", "-refine", "2"}, "needs -target-hit"},
		{[]string{"-trace", "x.csv", "-budget", "1000"}, "unit"},
		{[]string{"-trace", "x.csv", "-budget", "1GiB", "-capacities", "100,200"}, "in bytes too"},
		{[]string{"-trace", "x.csv", "-rate", "2M"}, "-rate"},
		{[]string{"-trace", "x.csv", "-capacities", "64MiB,100"}, "not both"},
		{[]string{"-gen-log", "x.csv", "-gen-requests", "0"}, "-gen-requests"},
		{[]string{"-gen-log", "x.csv", "-zipf-s", "0"}, "-zipf-s"},
		{[]string{"-gen-log", "x.csv", "-trace", "y.csv"}, "cannot be combined"},
	} {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	// -gen-log takes a Zipf exponent below 1.
	if _, err := Parse([]string{"-gen-log", "x.csv", "-zipf-s", "0.9", "-value-size", "100-20000"}); err != nil {
		t.Errorf("-gen-log: %v", err)
	}
}
