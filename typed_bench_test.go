package velo_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/velocache/velo"
)

// The Typed benchmarks price the wrapper against the raw byte API it sits
// on, for one 64-byte value read or written by one goroutine:
//
//	go test -run '^$' -bench Typed -benchmem .
//
// raw-Get and raw-AppendValue are the Cache's own calls. Binary and JSON
// store the same struct, typedBenchRecord, whose Binary encoding is 64
// bytes and whose JSON is about twice that. Custom stores it in the same
// layout as Binary through a hand-written codec, the price without
// encoding/binary's reflection. String stores 64 bytes as a string, which
// costs one allocation for the string on Get.

// typedBenchRecord is a small struct of the kind people cache: ids, a
// timestamp, a few numbers. Its encoding/binary size is 64 bytes.
type typedBenchRecord struct {
	ID      uint64    `json:"id"`
	Version uint64    `json:"version"`
	Score   float64   `json:"score"`
	Lat     float64   `json:"lat"`
	Lon     float64   `json:"lon"`
	Created int64     `json:"created"`
	Counts  [4]uint32 `json:"counts"`
}

// typedBenchCodec encodes typedBenchRecord field by field, in the layout
// Binary uses, as a user would to take reflection off a hot path.
type typedBenchCodec struct{}

func (typedBenchCodec) Append(dst []byte, r typedBenchRecord) ([]byte, error) {
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, r.ID)
	dst = le.AppendUint64(dst, r.Version)
	dst = le.AppendUint64(dst, math.Float64bits(r.Score))
	dst = le.AppendUint64(dst, math.Float64bits(r.Lat))
	dst = le.AppendUint64(dst, math.Float64bits(r.Lon))
	dst = le.AppendUint64(dst, uint64(r.Created))
	for _, n := range r.Counts {
		dst = le.AppendUint32(dst, n)
	}
	return dst, nil
}

func (typedBenchCodec) Decode(data []byte) (typedBenchRecord, error) {
	var r typedBenchRecord
	if len(data) != 64 {
		return r, errors.New("typedBenchRecord: want 64 bytes")
	}
	le := binary.LittleEndian
	r.ID = le.Uint64(data[0:])
	r.Version = le.Uint64(data[8:])
	r.Score = math.Float64frombits(le.Uint64(data[16:]))
	r.Lat = math.Float64frombits(le.Uint64(data[24:]))
	r.Lon = math.Float64frombits(le.Uint64(data[32:]))
	r.Created = int64(le.Uint64(data[40:]))
	for i := range r.Counts {
		r.Counts[i] = le.Uint32(data[48+4*i:])
	}
	return r, nil
}

const typedBenchKeys = 1024 // a power of two, to pick keys with a mask

func typedBenchSetup(b *testing.B) (*velo.Cache, []string, typedBenchRecord) {
	b.Helper()
	c, err := velo.New(velo.Options{MaxBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	b.ReportAllocs()
	keys := make([]string, typedBenchKeys)
	for i := range keys {
		keys[i] = "record:" + strconv.Itoa(i)
	}
	r := typedBenchRecord{ID: 1234567, Version: 3, Score: 0.75, Lat: 48.8566, Lon: 2.3522,
		Created: 1700000000, Counts: [4]uint32{1, 2, 3, 4}}
	if n := binary.Size(r); n != 64 {
		b.Fatalf("typedBenchRecord is %d bytes, want 64", n)
	}
	return c, keys, r
}

// typedBenchFill stores every key through set, so that Gets hit.
func typedBenchFill(b *testing.B, keys []string, set func(string) error) {
	b.Helper()
	for _, k := range keys {
		if err := set(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTypedGet(b *testing.B) {
	b.Run("raw-Get", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		val, _ := binary.Append(nil, binary.LittleEndian, &r)
		typedBenchFill(b, keys, func(k string) error { return c.Set(k, val, 0) })
		i := 0
		for b.Loop() {
			if _, ok := c.Get(keys[i&(typedBenchKeys-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("raw-AppendValue", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		val, _ := binary.Append(nil, binary.LittleEndian, &r)
		typedBenchFill(b, keys, func(k string) error { return c.Set(k, val, 0) })
		buf := make([]byte, 0, 256)
		i := 0
		for b.Loop() {
			var ok bool
			if buf, ok = c.AppendValue(buf[:0], keys[i&(typedBenchKeys-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("String", func(b *testing.B) {
		c, keys, _ := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.String())
		val := string(make([]byte, 64))
		typedBenchFill(b, keys, func(k string) error { return tc.Set(k, val, 0) })
		typedBenchGet(b, tc, keys)
	})
	b.Run("Binary", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.Binary[typedBenchRecord]())
		typedBenchFill(b, keys, func(k string) error { return tc.Set(k, r, 0) })
		typedBenchGet(b, tc, keys)
	})
	b.Run("Custom", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped[typedBenchRecord](c, typedBenchCodec{})
		typedBenchFill(b, keys, func(k string) error { return tc.Set(k, r, 0) })
		typedBenchGet(b, tc, keys)
	})
	b.Run("JSON", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.JSON[typedBenchRecord]())
		typedBenchFill(b, keys, func(k string) error { return tc.Set(k, r, 0) })
		typedBenchGet(b, tc, keys)
	})
}

func typedBenchGet[V any](b *testing.B, tc *velo.Typed[V], keys []string) {
	i := 0
	for b.Loop() {
		if _, ok, err := tc.Get(keys[i&(typedBenchKeys-1)]); !ok || err != nil {
			b.Fatal("miss or error:", err)
		}
		i++
	}
}

func BenchmarkTypedSet(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		val, _ := binary.Append(nil, binary.LittleEndian, &r)
		typedBenchSet(b, keys, func(k string) error { return c.Set(k, val, 0) })
	})
	b.Run("String", func(b *testing.B) {
		c, keys, _ := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.String())
		val := string(make([]byte, 64))
		typedBenchSet(b, keys, func(k string) error { return tc.Set(k, val, 0) })
	})
	b.Run("Binary", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.Binary[typedBenchRecord]())
		typedBenchSet(b, keys, func(k string) error { return tc.Set(k, r, 0) })
	})
	b.Run("Custom", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped[typedBenchRecord](c, typedBenchCodec{})
		typedBenchSet(b, keys, func(k string) error { return tc.Set(k, r, 0) })
	})
	b.Run("JSON", func(b *testing.B) {
		c, keys, r := typedBenchSetup(b)
		tc := velo.NewTyped(c, velo.JSON[typedBenchRecord]())
		typedBenchSet(b, keys, func(k string) error { return tc.Set(k, r, 0) })
	})
}

// typedBenchSet overwrites the same 1024 keys in turn: the live entries
// stay far below the budget, and what the cache does to reclaim the
// overwritten ones is the same for every variant.
func typedBenchSet(b *testing.B, keys []string, set func(string) error) {
	i := 0
	for b.Loop() {
		if err := set(keys[i&(typedBenchKeys-1)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
