package tracefile

import (
	"slices"
	"strings"
	"testing"
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
		td, err := read(strings.NewReader(tc.in), "plain")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(td.Keys, tc.keys) || !slices.Equal(td.Sizes, tc.sizes) {
			t.Errorf("%s: keys %v sizes %v, want %v %v", tc.name, td.Keys, td.Sizes, tc.keys, tc.sizes)
		}
	}
	for _, in := range []string{"a,1\nb,x\n", "a,1\nb\n"} {
		if _, err := read(strings.NewReader(in), "plain"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestReadPlainNames: the plain format keeps each key's string, by id.
func TestReadPlainNames(t *testing.T) {
	td, err := ReadPlain(strings.NewReader("key,size\nsess/ab,1\nsess/cd,2\nsess/ab,3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(td.Names, []string{"sess/ab", "sess/cd"}) || !slices.Equal(td.Keys, []uint64{0, 1, 0}) {
		t.Errorf("names %v keys %v", td.Names, td.Keys)
	}
	td, err = read(strings.NewReader("1\n2\n"), "lirs")
	if err != nil || td.Names != nil {
		t.Errorf("lirs: names %v, %v", td.Names, err)
	}
}
