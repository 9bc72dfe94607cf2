// Package genlog is -gen-log: a synthetic application access log in the
// plain trace format (package tracefile), for trying the capacity
// planning walkthrough (docs/capacity-planning.md) without a log of one's
// own.
//
// Each line is one request, "key,size,timestamp", after a header line
// "key,size,timestamp". Popularity follows a Zipf law over the keys: the
// key of rank r (from 1) is requested with probability proportional to
// 1/r^s, for any s > 0 (drawn by inverse transform over the exact
// distribution, not math/rand's Zipf, which needs s > 1). Keys are
// "obj/" and 16 hex digits of a hash of the rank, so popularity does not
// follow key order. Each key has one size, drawn log-uniformly between
// the smallest and the largest size, as object sizes in a real service
// spread over orders of magnitude. Timestamps are Unix seconds with
// microseconds, from 2026-01-01 00:00 UTC, with exponential gaps at the
// given rate (Poisson arrivals); the reader ignores them. A name ending
// in .gz is gzipped and one in .zst compressed with zstd. The same flags
// and seed write the same file.
package genlog

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
)

// Params is what a log is generated from.
type Params struct {
	Requests, Keys   int
	ZipfS            float64
	SizeMin, SizeMax int
	Rate             float64 // requests per second
	Seed             uint64
}

// start is the first timestamp, 2026-01-01 00:00:00 UTC.
const start = 1767225600

// Stats is what Write reports about the log it wrote.
type Stats struct {
	Requests     int
	DistinctKeys int   // keys requested at least once
	DistinctSize int64 // sum of the sizes of those keys: what caching every one would take in values
	Seconds      float64
}

// Run writes the log cfg asks for and one line about it to w.
func Run(cfg config.Config, w io.Writer) error {
	p := Params{
		Requests: cfg.Gen.Requests, Keys: cfg.Gen.Keys, ZipfS: cfg.ZipfS,
		SizeMin: cfg.ValueMin, SizeMax: cfg.ValueSize, Rate: cfg.Gen.Rate, Seed: cfg.Seed,
	}
	st, err := WriteFile(cfg.Gen.Path, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "loadgen: wrote %s: %d requests over %.0fs, %d distinct keys of %d, %.1f MiB in distinct objects (Zipf s=%g, sizes %d-%d log-uniform, seed %d)\n",
		cfg.Gen.Path, st.Requests, st.Seconds, st.DistinctKeys, p.Keys, float64(st.DistinctSize)/(1<<20), p.ZipfS, p.SizeMin, p.SizeMax, p.Seed)
	return nil
}

// WriteFile writes the log to path, compressed as its name says.
func WriteFile(path string, p Params) (Stats, error) {
	f, err := os.Create(path)
	if err != nil {
		return Stats{}, err
	}
	var out io.Writer = f
	var closer io.Closer
	switch {
	case strings.HasSuffix(path, ".gz"):
		zw := gzip.NewWriter(f)
		out, closer = zw, zw
	case strings.HasSuffix(path, ".zst"):
		zw, err := zstd.NewWriter(f)
		if err != nil {
			f.Close()
			return Stats{}, err
		}
		out, closer = zw, zw
	}
	st, err := Write(out, p)
	if closer != nil {
		if cerr := closer.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// Write writes the log to w.
func Write(w io.Writer, p Params) (Stats, error) {
	rng := rand.New(rand.NewPCG(p.Seed, 0x10c))
	// cdf[r] is the probability of the ranks 0..r.
	cdf := make([]float64, p.Keys)
	var sum float64
	for r := range cdf {
		sum += math.Pow(float64(r+1), -p.ZipfS)
		cdf[r] = sum
	}
	names := make([]string, p.Keys)
	sizes := make([]int, p.Keys)
	lo, hi := math.Log(float64(max(p.SizeMin, 1))), math.Log(float64(max(p.SizeMax, 1)))
	for r := range names {
		names[r] = fmt.Sprintf("obj/%016x", mix64(uint64(r)^p.Seed<<32))
		sizes[r] = p.SizeMin
		if p.SizeMax > p.SizeMin {
			sizes[r] = min(max(int(math.Round(math.Exp(lo+rng.Float64()*(hi-lo)))), p.SizeMin), p.SizeMax)
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("key,size,timestamp\n")
	seen := make([]bool, p.Keys)
	st := Stats{Requests: p.Requests}
	t := 0.0
	line := make([]byte, 0, 64)
	for range p.Requests {
		r, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		r = min(r, p.Keys-1)
		if !seen[r] {
			seen[r] = true
			st.DistinctKeys++
			st.DistinctSize += int64(sizes[r])
		}
		t += rng.ExpFloat64() / p.Rate
		line = append(line[:0], names[r]...)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(sizes[r]), 10)
		line = append(line, ',')
		line = strconv.AppendFloat(line, start+t, 'f', 6, 64)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return st, err
		}
	}
	st.Seconds = t
	return st, bw.Flush()
}

// mix64 is SplitMix64's finalizer: a bijection that scatters the ranks.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
