package workload

import (
	"math"
	"slices"

	"github.com/velocache/velo/cmd/loadgen/internal/targets"
)

// ValueDist is a value size distribution of -fill: every key gets a size
// in Lo..Hi, uniform by a hash of the key, or with Alt, Lo for even keys
// and Hi for odd.
type ValueDist struct {
	Name, About string
	Lo, Hi      int
	Alt         bool
}

// ValueDists are the distributions -fill-values names, in -h order.
var ValueDists = []ValueDist{
	{Name: "64", About: "64-byte values", Lo: 64, Hi: 64},
	{Name: "1k", About: "1 KiB values", Lo: 1 << 10, Hi: 1 << 10},
	{Name: "mixed", About: "1 B to 16 KiB, uniform", Lo: 1, Hi: 16 << 10},
	{Name: "alt", About: "1 B and 256 KiB, by key parity", Lo: 1, Hi: 256 << 10, Alt: true},
	{Name: "rand512k", About: "1 B to 512 KiB, uniform", Lo: 1, Hi: 512 << 10},
}

// FindValueDist returns the distribution called name, or nil.
func FindValueDist(name string) *ValueDist {
	i := slices.IndexFunc(ValueDists, func(d ValueDist) bool { return d.Name == name })
	if i < 0 {
		return nil
	}
	return &ValueDists[i]
}

// ValueDistNames lists the distributions' names.
func ValueDistNames() []string {
	names := make([]string, len(ValueDists))
	for i, d := range ValueDists {
		names[i] = d.Name
	}
	return names
}

// MeanEntry is the expected entry bytes (targets.EntryBytes) of a
// KeyBytes key.
func (d ValueDist) MeanEntry() float64 {
	if d.Alt {
		return float64(targets.EntryBytes(KeyBytes, d.Lo)+targets.EntryBytes(KeyBytes, d.Hi)) / 2
	}
	var sum float64
	for v := d.Lo; v <= d.Hi; v++ {
		sum += float64(targets.EntryBytes(KeyBytes, v))
	}
	return sum / float64(d.Hi-d.Lo+1)
}

// DefaultKeys is the number of keys for a live set of about target bytes.
func (d ValueDist) DefaultKeys(target float64) int {
	return max(1, int(math.Round(target/d.MeanEntry())))
}
