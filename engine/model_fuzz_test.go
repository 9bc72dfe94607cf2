package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/clock"
)

// The model-based fuzz test drives an Engine and a plain map with the same
// operations and compares them. A cache may drop entries to stay within
// budget, so a miss the model does not predict is allowed only once the
// engine has counted an eviction; a hit must always be exactly the model's
// current, unexpired value. With a colliding hash the index keeps one entry
// per hash, so a Set also removes from the model the other keys of its
// hash: the engine may or may not count those as evictions.
//
// Input layout: one config byte, then operations, each an opcode byte and
// its arguments (missing trailing bytes read as zero):
//
//	config  bit 0: 2 shards (else 1); bit 1: MaxEntries 12;
//	        bit 2: a hash with 8 values a shard (constant collisions);
//	        bit 3: DefaultTTL 5ms; bit 4: 4 shards (with bit 0: every
//	        key in the first)
//	op%11   0,1 Set key size ttl    2,3 Get key    4 Delete key
//	        5 Advance d             6 sweepExpired 7 Get every key
//	        8 Clear                 9 Range        10 Restore key size d
//
// Every removal the engine reports to OnRemove must carry a value the key
// held before the operation (or the value just Set), and a key reported
// evicted, expired or deleted must be gone afterwards.
const (
	modelMaxBytes = 16 << 10
	modelSegBytes = 2 << 10
	// modelMaxValue is below what a segment holds, so that the generated
	// sizes (around a segment's worth) fall on both sides of the limit.
	modelMaxValue = modelSegBytes - arena.HeaderSize - 8
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
	f.Add(cat([]byte{0}, set(3, 5, 5), set(3, 253, 0), set(3, 252, 0), get(3), set(3, 251, 0), get(3)))
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
	f.Add(cat([]byte{17}, long)) // one shard of four holds every key
	f.Add(cat([]byte{21}, long))
	f.Add(cat([]byte{18}, long)) // MaxEntries over four shards
	// Sparse segments for the sweep to compact: one in eight entries
	// never expires, the others live 1ms.
	var sparse []byte
	for i := range 80 {
		sparse = cat(sparse, set(byte(i%modelKeys), 100, byte(1+3*(i%8/7))))
	}
	f.Add(cat([]byte{0}, sparse, adv(200), sweep, getAll, sweep))

	// Clear, Range and Restore amid the rest.
	var mixed []byte
	for i := range 40 {
		mixed = cat(mixed, set(byte(i), byte(100+i), byte(i%5)), []byte{9})
		if i%7 == 6 {
			mixed = cat(mixed, []byte{10, byte(i), 30, byte(i)}, []byte{10, byte(i + 1), 30, 2}, []byte{9}, adv(byte(i)))
		}
		if i%13 == 12 {
			mixed = cat(mixed, []byte{8}, getAll, []byte{9})
		}
	}
	f.Add(cat([]byte{0}, mixed))
	f.Add(cat([]byte{2}, mixed))
	f.Add(cat([]byte{5}, mixed))
	f.Add(cat([]byte{0}, long, []byte{9, 8, 9}, long, []byte{9}))
	f.Add(cat([]byte{2}, long, []byte{9, 8, 9}, long, []byte{9}))

	f.Fuzz(func(t *testing.T, data []byte) { runModel(t, data) })
}

type modelEntry struct {
	value    []byte
	expireAt int64
	ttl      time.Duration // as stored: 0 for none
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

// checkRange checks that Range yields exactly the keys Has finds, each
// once, with the value, expiry and TTL the model has.
func checkRange(t testing.TB, e *Engine, now int64, live func(string) (modelEntry, bool)) {
	seen := map[string]bool{}
	e.Range(func(key string, value []byte, info EntryInfo) bool {
		if seen[key] {
			t.Fatalf("Range yielded %q twice", key)
		}
		seen[strings.Clone(key)] = true // key aliases a segment that may be recycled
		m, ok := live(key)
		switch {
		case !ok:
			t.Fatalf("Range yielded %q, which the model does not hold", key)
		case !bytes.Equal(m.value, value):
			t.Fatalf("Range yielded %q = %q, the model has %q", key, value, m.value)
		case info.ExpireAt != m.expireAt || info.ExpireAt <= now:
			t.Fatalf("Range yielded %q expiring at %d, the model has %d", key, info.ExpireAt, m.expireAt)
		case info.TTL > m.ttl || info.TTL < m.ttl-m.ttl/256-1:
			t.Fatalf("Range yielded %q with TTL %v, the model has %v", key, info.TTL, m.ttl)
		}
		return true
	})
	for _, k := range modelKeyNames {
		info, has := e.Info(k)
		if has != seen[k] {
			t.Fatalf("Has(%q) = %v, Range yielded it: %v", k, has, seen[k])
		}
		if m, _ := live(k); has && info.ExpireAt != m.expireAt {
			t.Fatalf("Info(%q).ExpireAt = %d, the model has %d", k, info.ExpireAt, m.expireAt)
		}
	}
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

// modelKeyNames are the keys the fuzzer picks from.
var modelKeyNames = func() (k [modelKeys]string) {
	for i := range k {
		k[i] = fmt.Sprintf("k%02d", i)
	}
	return k
}()

// runModel applies the operations encoded in data to an engine and to the
// model. Checks use plain comparisons and t.Fatalf, not testify: the fuzzer
// runs this thousands of times a second and each require call walks the
// stack (t.Helper).
func runModel(t testing.TB, data []byte) {
	r := &opReader{data: data}
	c := r.next()
	cfg := Config{MaxBytes: modelMaxBytes, SegmentBytes: modelSegBytes, MaxValueBytes: modelMaxValue, Shards: 1 << (c & 1)}
	if c&2 != 0 {
		cfg.MaxEntries = 12
	}
	if c&4 != 0 {
		// Eight values a shard, none below 2 (which an index may reserve).
		cfg.hash = func(s string) uint64 { return xxhash.Sum64String(s)&(1<<63|7) | 8 }
	}
	if c&8 != 0 {
		cfg.DefaultTTL = 5 * time.Millisecond
	}
	if c&16 != 0 {
		// Four shards: with few keys, some hold none, or only the entry
		// just written, when MaxEntries makes them evict.
		cfg.Shards = 4
		if c&1 != 0 {
			// Every key in the first: it holds the budget's share of
			// the three others, and fills its table of slots with large
			// entries.
			h := xxhash.Sum64String
			if cfg.hash != nil {
				h = cfg.hash
			}
			cfg.hash = func(s string) uint64 { return h(s) &^ (3 << 62) }
		}
	}
	clk := clock.NewManual(testStart)
	cfg.Clock = clk
	var removed []removal
	cfg.OnRemove = func(key string, value []byte, reason Reason) {
		removed = append(removed, removal{key, value, reason})
	}
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
	evicted := func() bool { return e.Stats().Evictions > 0 }
	checkGet := func(k string) {
		v, ok := e.AppendValue(nil, k)
		if has := e.Has(k); has != ok {
			t.Fatalf("Has(%q) = %v, Get hit = %v", k, has, ok)
		}
		m, want := live(k)
		switch {
		case ok && !want:
			t.Fatalf("Get(%q) hit %q, but the model has no live entry", k, v)
		case ok && !bytes.Equal(m.value, v): // nil and empty alike
			t.Fatalf("Get(%q) = %q, the model has %q", k, v, m.value)
		case !ok && want && !evicted():
			t.Fatalf("Get(%q) missed with no eviction yet", k)
		}
	}

	for seq := 0; r.more() && seq < 1000; seq++ {
		before := maps.Clone(model)
		deletes := e.Stats().Deletes
		removed = removed[:0]
		setKey, setValue := "", []byte(nil)
		switch op := r.next() % 11; op {
		case 0, 1:
			k := modelKeyNames[r.next()%modelKeys]
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
			var want error
			switch {
			case ttl < 0:
				want = ErrInvalidTTL
			case size > modelMaxValue:
				want = ErrTooLarge
			}
			if !errors.Is(err, want) { // errors.Is(err, nil) is err == nil
				t.Fatalf("Set(%q, %d bytes, %v) = %v, want %v", k, size, ttl, err, want)
			}
			if err == nil {
				if ttl == 0 {
					ttl = cfg.DefaultTTL
				}
				exp := int64(arena.Never)
				if ttl > 0 && int64(ttl) <= math.MaxInt64-clk.Now() {
					exp = clk.Now() + int64(ttl)
				}
				if exp == arena.Never {
					ttl = 0
				}
				model[k] = modelEntry{value: bytes.Clone(v), expireAt: exp, ttl: ttl}
				setKey, setValue = k, model[k].value
				// The index holds one entry per hash: a Set displaces any
				// other key with the same hash (whether the engine counts
				// that as an eviction or not).
				if cfg.hash != nil {
					for k2 := range model {
						if k2 != k && cfg.hash(k2) == cfg.hash(k) {
							delete(model, k2)
						}
					}
				}
			}
			// Set copies its argument: scribbling on v must not show.
			clear(v)
		case 2, 3:
			k := modelKeyNames[r.next()%modelKeys]
			trace = append(trace, fmt.Sprintf("%d: Get(%s)", seq, k))
			checkGet(k)
		case 4:
			k := modelKeyNames[r.next()%modelKeys]
			trace = append(trace, fmt.Sprintf("%d: Delete(%s)", seq, k))
			got := e.Delete(k)
			_, want := live(k)
			if got && !want || !got && want && !evicted() {
				t.Fatalf("Delete(%q) = %v, the model has a live entry: %v", k, got, want)
			}
			delete(model, k)
		case 5:
			// Quadratic: mostly sub-millisecond steps, up to about 1.3s.
			b := time.Duration(r.next())
			d := b * b * 20 * time.Microsecond
			trace = append(trace, fmt.Sprintf("%d: Advance(%v)", seq, d))
			clk.Advance(d)
		case 6:
			trace = append(trace, fmt.Sprintf("%d: sweepExpired", seq))
			e.sweepExpired()
			for k, m := range model {
				if m.expireAt <= clk.Now() {
					delete(model, k)
				}
			}
			if n := e.Len(); n != len(model) && !evicted() {
				t.Fatalf("after a sweep with no eviction: Len %d, the model has %d", n, len(model))
			}
		case 7:
			trace = append(trace, fmt.Sprintf("%d: Get all", seq))
			for _, k := range modelKeyNames {
				checkGet(k)
			}
		case 8:
			trace = append(trace, fmt.Sprintf("%d: Clear", seq))
			e.Clear()
			clear(model)
			if n := e.Len(); n != 0 {
				t.Fatalf("Len %d after Clear", n)
			}
		case 9:
			trace = append(trace, fmt.Sprintf("%d: Range", seq))
			checkRange(t, e, clk.Now(), live)
		case 10:
			k := modelKeyNames[r.next()%modelKeys]
			size := modelSize(r.next(), k)
			d := time.Duration(r.next()) * time.Millisecond
			v := bytes.Repeat([]byte{byte(seq)}, size)
			exp := clk.Now() + int64(d) - int64(5*time.Millisecond) // the first five are already expired
			trace = append(trace, fmt.Sprintf("%d: Restore(%s, %d bytes, %d)", seq, k, size, exp-clk.Now()))
			err := e.Restore(k, v, exp, d)
			tooLarge := size > modelMaxValue
			if tooLarge != errors.Is(err, ErrTooLarge) || !tooLarge && err != nil {
				t.Fatalf("Restore(%q, %d bytes) = %v", k, size, err)
			}
			if err == nil && exp > clk.Now() {
				model[k] = modelEntry{value: v, expireAt: exp, ttl: d}
				setKey, setValue = k, v
				if cfg.hash != nil {
					for k2 := range model {
						if k2 != k && cfg.hash(k2) == cfg.hash(k) {
							delete(model, k2)
						}
					}
				}
			}
		}

		// Removals carry the value the key had, and the key is gone.
		nDeleted := 0
		for _, rm := range removed {
			m, had := before[rm.key]
			if !(had && bytes.Equal(m.value, rm.value)) && !(rm.key == setKey && bytes.Equal(rm.value, setValue)) {
				t.Fatalf("OnRemove(%q, %q, %v): not a value the key held", rm.key, rm.value, rm.reason)
			}
			if rm.reason == Deleted {
				nDeleted++
			}
			if rm.reason != Replaced && rm.key != setKey && e.Has(rm.key) {
				t.Fatalf("OnRemove(%q, %v), but the key is still there", rm.key, rm.reason)
			}
		}
		if d := e.Stats().Deletes - deletes; d != uint64(nDeleted) {
			t.Fatalf("%d deletes counted, %d reported", d, nDeleted)
		}

		// The engine only holds keys the model holds (it may have dropped
		// expired or evicted ones the model still lists), within budget.
		if n := e.Len(); n > len(model) {
			t.Fatalf("Len %d, the model has %d", n, len(model))
		}
		if b := e.Stats().HeldBytes; b > modelMaxBytes {
			t.Fatalf("Bytes %d over MaxBytes %d", b, modelMaxBytes)
		}
		checkInvariants(t, e)
	}
	for _, k := range modelKeyNames {
		checkGet(k)
	}
}
