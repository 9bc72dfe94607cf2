package workload

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/velocache/velo/cmd/loadgen/internal/targets"
)

// Phases of a run, set by the driver and polled by the workers.
const (
	PhaseWarmup int32 = iota
	PhaseMeasure
	PhaseStop
)

// batchOps is how many ops a worker does between two looks at the phase.
const batchOps = 256

// maxLatencyNs is the largest latency the histograms hold; longer ones
// are recorded as this.
const maxLatencyNs = int64(10 * time.Second)

// NewHist returns an empty latency histogram. An HDR histogram records in
// constant time and memory, without allocating, so timing does not
// disturb the measurement.
func NewHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, maxLatencyNs, 3) // 3 significant digits
}

// Percentiles returns h's p50, p99 and p99.9 (zeros when it is empty).
func Percentiles(h *hdrhistogram.Histogram) (p50, p99, p999 int64) {
	if h.TotalCount() == 0 {
		return 0, 0, 0
	}
	return h.ValueAtQuantile(50), h.ValueAtQuantile(99), h.ValueAtQuantile(99.9)
}

// KeyBytes is the length of the keys of a random key source: i as 16
// decimal digits.
const KeyBytes = 16

// FormatKey writes i as 16 decimal digits, fmt's "%016d" (for i < 10^16).
func FormatKey(b *[KeyBytes]byte, i int) {
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
}

// Worker is one goroutine of a measurement: where its keys come from,
// what it times, and what it counted while measuring. Its keys come either
// from a Workload's stream (Run's wl, starting at Pos) or, when Rand is
// set, uniformly from 0..N-1 as FormatKey strings. The op mix starts at
// Slot of the mix table.
type Worker struct {
	Pos, Slot int    // start offsets in the stream and the mix table
	Buf       []byte // read buffer, cap >= value size

	// Random keys: Rand draws each key below N. A read looks the key up
	// through a string that aliases the worker's key buffer (no
	// allocation: lookups do not keep the key); a write makes a string of
	// its own, since map-based caches keep it, and stores Value.
	Rand  *rand.Rand
	N     int
	Value []byte
	kb    [KeyBytes]byte

	// SampleEvery is how often an op is timed: one in SampleEvery (a power
	// of two). Reads go to ReadHist and writes to WriteHist, which may be
	// the same histogram. Each sample covers the cache call alone.
	SampleEvery uint64
	ReadHist    *hdrhistogram.Histogram
	WriteHist   *hdrhistogram.Histogram

	// ReadThrough makes every read that misses write the key's value
	// (wl.Value), as a service in front of an origin does; the write
	// counts in the same op. It needs keys from a Workload's stream.
	ReadThrough bool

	// Counted while the phase was PhaseMeasure.
	Ops, Reads, Hits uint64
}

// Run does ops on c until phase is PhaseStop, counting and timing them
// only while it is PhaseMeasure: reads or writes as mix says, the keys
// from wl's stream (nil with Rand set). Counts live in local variables
// until the end.
func (w *Worker) Run(phase *atomic.Int32, c targets.Cache, wl *Workload, mix *[100]bool, ttl time.Duration) {
	var keys []string
	var stream []int32
	var values [][]byte
	if wl != nil {
		keys, stream, values = wl.Keys, wl.Stream, wl.values
	}
	mask := len(stream) - 1 // a power of two
	rng, n := w.Rand, w.N
	alias := unsafe.String(&w.kb[0], len(w.kb))
	buf := w.Buf
	rh, wh := w.ReadHist, w.WriteHist
	sampleMask := w.SampleEvery - 1
	pos, slot := w.Pos, w.Slot
	var ops, reads, hits uint64
	var base [3]uint64 // ops, reads, hits when measuring began
	measuring := false
	for {
		switch phase.Load() {
		case PhaseStop:
			if measuring {
				w.Ops, w.Reads, w.Hits = ops-base[0], reads-base[1], hits-base[2]
			}
			return
		case PhaseMeasure:
			if !measuring {
				measuring, base = true, [3]uint64{ops, reads, hits}
			}
		}
		for range batchOps {
			var key string
			var ki int32
			if rng == nil {
				ki = stream[pos&mask]
				key = keys[ki]
				pos++
			} else {
				FormatKey(&w.kb, rng.IntN(n))
				key = alias
			}
			isRead := mix[slot]
			if slot++; slot == len(mix) {
				slot = 0
			}
			timed := measuring && ops&sampleMask == 0
			if isRead {
				reads++
				var t0 time.Time
				if timed {
					t0 = time.Now()
				}
				if _, ok := c.Read(buf[:0], key); ok {
					hits++
				} else if w.ReadThrough {
					_ = c.Write(key, wl.Value(ki), ttl)
				}
				if timed {
					_ = rh.RecordValue(min(int64(time.Since(t0)), maxLatencyNs))
				}
			} else {
				var value []byte
				if rng == nil {
					value = values[ki%valueCount]
				} else {
					key, value = string(w.kb[:]), w.Value
				}
				var t0 time.Time
				if timed {
					t0 = time.Now()
				}
				_ = c.Write(key, value, ttl)
				if timed {
					_ = wh.RecordValue(min(int64(time.Since(t0)), maxLatencyNs))
				}
			}
			ops++
		}
	}
}
