package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

// The model-based fuzz test drives an Engine and a plain map with the same
// operations and compares them. A cache may drop entries to stay within
// budget, so a miss the model does not predict is allowed only once the
// engine has counted an eviction; a hit must always be exactly the model's
// current, unexpired value.
//
// Input layout: one config byte, then operations, each an opcode byte and
// its arguments (missing trailing bytes read as zero):
//
//	config  bit 0: 2 shards (else 1); bit 1: MaxEntries 12;
//	        bit 2: a hash with 16 values (constant collisions);
//	        bit 3: DefaultTTL 5ms
//	op%8    0,1 Set key size ttl    2,3 Get key    4 Delete key
//	        5 Advance d             6 SweepExpired 7 Get every key
const (
	modelMaxBytes = 16 << 10
	modelSegBytes = 2 << 10
	modelKeys     = 24
)

func FuzzModel(f *testing.F) {
	set := func(key, size, ttl byte) []byte { return []byte{0, key, size, ttl} }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	get := func(key byte) []byte { return []byte{2, key} }
	del := func(key byte) []byte { return []byte{4, key} }
	adv := func(d byte) []byte { return []byte{5, d} }
	sweep, getAll := []byte{6}, []byte{7}

	// Each operation on its own, then together.
	f.Add(cat([]byte{0}, set(1, 10, 0), get(1), get(2)))
	f.Add(cat([]byte{0}, set(1, 10, 0), set(1, 20, 0), get(1), del(1), get(1), del(1)))
	// TTL 1ms: alive at 980µs, dead at 1ms.
	f.Add(cat([]byte{0}, set(1, 10, 1), set(2, 10, 3), adv(7), get(1), adv(1), get(1), sweep, get(2), getAll))
	// DefaultTTL 5ms: alive at 4.5ms, dead at 5ms.
	f.Add(cat([]byte{8}, set(1, 0, 0), adv(15), get(1), adv(5), del(1), sweep))
	// A negative TTL, an entry one byte too large, one that just fits.
	f.Add(cat([]byte{0}, set(3, 5, 5), set(3, 255, 0), set(3, 252, 0), get(3), set(3, 251, 0), get(3)))
	// TTL MaxInt64 never expires.
	f.Add(cat([]byte{0}, set(4, 249, 4), adv(255), adv(255), sweep, get(4)))
	// Enough large Sets to rotate and evict, with reads in between.
	var long []byte
	for i := range 60 {
		long = cat(long, set(byte(i), byte(200+i%50), byte(i%5)), get(byte(i/2)))
		if i%10 == 9 {
			long = cat(long, adv(byte(i*3)), sweep, getAll)
		}
	}
	f.Add(cat([]byte{0}, long))
	f.Add(cat([]byte{1}, long))
	f.Add(cat([]byte{2}, long)) // MaxEntries
	f.Add(cat([]byte{5}, long)) // collisions over 2 shards
	f.Add(cat([]byte{15}, long))
	// Sparse segments for the sweep to compact.
	var sparse []byte
	for i := range 80 {
		sparse = cat(sparse, set(byte(i%modelKeys), 100, byte(1+3*(i%4/3))))
	}
	f.Add(cat([]byte{0}, sparse, adv(200), sweep, getAll, sweep))

	f.Fuzz(func(t *testing.T, data []byte) { runModel(t, data) })
}

type modelEntry struct {
	value    []byte
	expireAt int64
}

// opReader hands out the input's bytes, zero once they run out.
type opReader struct {
	data []byte
	pos  int
}

func (r *opReader) more() bool { return r.pos < len(r.data) }

func (r *opReader) next() byte {
	if r.pos >= len(r.data) {
		return 0
	}
	r.pos++
	return r.data[r.pos-1]
}

// modelSize maps a byte to a value size: mostly small, some up to a
// segment, and a few straddling the largest entry a segment takes.
func modelSize(b byte, key string) int {
	switch {
	case b < 200:
		return int(b)
	case b < 250:
		return int(b-200) * 40
	default:
		return modelSegBytes - arena.HeaderSize - len(key) - 2 + int(b-250)
	}
}

var modelTTLs = [...]time.Duration{0, time.Millisecond, 10 * time.Millisecond, time.Second, math.MaxInt64, -1}

func runModel(t *testing.T, data []byte) {
	r := &opReader{data: data}
	c := r.next()
	cfg := Config{MaxBytes: modelMaxBytes, SegmentBytes: modelSegBytes, Shards: 1 << (c & 1)}
	if c&2 != 0 {
		cfg.MaxEntries = 12
	}
	if c&4 != 0 {
		cfg.Hash = func(s string) uint64 { return xxhash.Sum64String(s) & (1<<63 | 7) }
	}
	if c&8 != 0 {
		cfg.DefaultTTL = 5 * time.Millisecond
	}
	clk := clock.NewManual(testStart)
	cfg.Clock = clk
	e, _ := newTestEngine(t, cfg)

	model := map[string]modelEntry{}
	var trace []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("config %+v\nops:\n%s", cfg, strings.Join(trace, "\n"))
		}
	})
	live := func(k string) (modelEntry, bool) {
		m, ok := model[k]
		return m, ok && m.expireAt > clk.Now()
	}
	checkGet := func(k string) {
		v, ok := e.Get(nil, k)
		require.Equal(t, ok, e.Has(k), "Has(%q) disagrees with Get", k)
		m, want := live(k)
		if ok {
			require.True(t, want, "Get(%q) hit %q, but the model has no live entry", k, v)
			require.Equal(t, string(m.value), string(v), "Get(%q)", k) // nil and empty alike
		} else if e.Stats().Evictions == 0 {
			require.False(t, want, "Get(%q) missed with no eviction yet", k)
		}
	}

	for seq := 0; r.more() && seq < 4000; seq++ {
		op := r.next() % 8
		switch op {
		case 0, 1:
			k := fmt.Sprintf("k%02d", r.next()%modelKeys)
			size := modelSize(r.next(), k)
			ttl := modelTTLs[int(r.next())%len(modelTTLs)]
			v := make([]byte, size)
			for i := range v {
				v[i] = byte(seq + i)
			}
			if size >= 8 {
				binary.LittleEndian.PutUint64(v, uint64(seq)) // values are unique
			}
			trace = append(trace, fmt.Sprintf("%d: Set(%s, %d bytes, %v)", seq, k, size, ttl))
			err := e.Set(k, v, ttl)
			switch {
			case ttl < 0:
				require.ErrorIs(t, err, ErrInvalidTTL)
			case arena.EntrySize(len(k), size) > modelSegBytes:
				require.ErrorIs(t, err, ErrTooLarge)
			default:
				require.NoError(t, err)
				if ttl == 0 {
					ttl = cfg.DefaultTTL
				}
				exp := int64(arena.Never)
				if ttl > 0 && int64(ttl) <= math.MaxInt64-clk.Now() {
					exp = clk.Now() + int64(ttl)
				}
				model[k] = modelEntry{value: bytes.Clone(v), expireAt: exp}
			}
			// Set's arguments are copies: scribbling on v must not show.
			clear(v)
		case 2, 3:
			k := fmt.Sprintf("k%02d", r.next()%modelKeys)
			trace = append(trace, fmt.Sprintf("%d: Get(%s)", seq, k))
			checkGet(k)
		case 4:
			k := fmt.Sprintf("k%02d", r.next()%modelKeys)
			trace = append(trace, fmt.Sprintf("%d: Delete(%s)", seq, k))
			got := e.Delete(k)
			_, want := live(k)
			if got {
				require.True(t, want, "Delete(%q) = true, but the model has no live entry", k)
			} else if e.Stats().Evictions == 0 {
				require.False(t, want, "Delete(%q) = false with no eviction yet", k)
			}
			delete(model, k)
		case 5:
			// Quadratic: mostly sub-millisecond steps, up to about 1.3s.
			b := time.Duration(r.next())
			d := b * b * 20 * time.Microsecond
			trace = append(trace, fmt.Sprintf("%d: Advance(%v)", seq, d))
			clk.Advance(d)
		case 6:
			trace = append(trace, fmt.Sprintf("%d: SweepExpired", seq))
			e.SweepExpired()
			for k, m := range model {
				if m.expireAt <= clk.Now() {
					delete(model, k)
				}
			}
			if e.Stats().Evictions == 0 {
				require.Equal(t, len(model), e.Len(), "after a sweep with no eviction the engine holds the model's entries")
			}
		case 7:
			trace = append(trace, fmt.Sprintf("%d: Get all", seq))
			for i := range modelKeys {
				checkGet(fmt.Sprintf("k%02d", i))
			}
		}

		// The engine only ever holds keys the model holds (it may have
		// dropped expired or evicted ones the model still lists).
		require.LessOrEqual(t, e.Len(), len(model), "after op %d", seq)
		s := e.Stats()
		require.LessOrEqual(t, s.Bytes, int64(modelMaxBytes))
		require.LessOrEqual(t, s.LiveBytes, s.Bytes)
		checkInvariants(t, e)
	}
	for i := range modelKeys {
		checkGet(fmt.Sprintf("k%02d", i))
	}
}
