package velo_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/velocache/velo"
)

// These tests use only the exported API, as a user of Typed would.

type typedUser struct {
	ID    int64             `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// typedPoint is a fixed-size struct, with a blank field for padding.
type typedPoint struct {
	X, Y  float64
	Z     int32
	_     [4]byte
	Valid bool
	Cells [3]uint16
}

func newTypedCache(t testing.TB) *velo.Cache {
	t.Helper()
	c, err := velo.New(velo.Options{MaxBytes: 4 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTypedJSONRoundTrip(t *testing.T) {
	tc := velo.NewTyped(newTypedCache(t), velo.JSON[typedUser]())
	u := typedUser{ID: 42, Name: "Ada <&>", Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v"}}
	require.NoError(t, tc.Set("user:42", u, 0))

	got, ok, err := tc.Get("user:42")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, u, got)
	require.True(t, tc.Has("user:42"))

	// The stored bytes are what json.Marshal writes: no trailing newline
	// from the Encoder that Append uses.
	raw, _ := tc.Cache().Get("user:42")
	want, err := json.Marshal(u)
	require.NoError(t, err)
	require.Equal(t, string(want), string(raw))

	got, ok, err = tc.Get("user:43")
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, got)

	require.True(t, tc.Delete("user:42"))
	require.False(t, tc.Has("user:42"))
	_, ok, err = tc.Get("user:42")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestTypedBinaryRoundTrip(t *testing.T) {
	tc := velo.NewTyped(newTypedCache(t), velo.Binary[typedPoint]())
	p := typedPoint{X: 1.5, Y: -2, Z: 7, Valid: true, Cells: [3]uint16{1, 2, 65535}}
	require.NoError(t, tc.Set("p", p, time.Minute))
	got, ok, err := tc.Get("p")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, p, got)

	// The layout is encoding/binary's, little-endian: exactly Size bytes.
	raw, _ := tc.Cache().Get("p")
	require.Len(t, raw, binary.Size(p))
	want, err := binary.Append(nil, binary.LittleEndian, p)
	require.NoError(t, err)
	require.Equal(t, want, raw)

	// Basic types work too.
	u := velo.NewTyped(tc.Cache(), velo.Binary[uint64]())
	require.NoError(t, u.Set("n", math.MaxUint64-1, 0))
	n, ok, err := u.Get("n")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(math.MaxUint64-1), n)
}

func TestTypedBinaryRejectsUnsizedTypes(t *testing.T) {
	type withInt struct{ N int }
	type withString struct {
		A int32
		S string
	}
	type unexported struct{ a int32 }
	type nested struct {
		P typedPoint
		Q [2]struct{ B []byte }
	}
	cases := map[string]func(){
		"int":        func() { velo.Binary[int]() },
		"string":     func() { velo.Binary[string]() },
		"slice":      func() { velo.Binary[[]int32]() },
		"pointer":    func() { velo.Binary[*typedPoint]() },
		"interface":  func() { velo.Binary[any]() },
		"withInt":    func() { velo.Binary[withInt]() },
		"withString": func() { velo.Binary[withString]() },
		"unexported": func() { velo.Binary[unexported]() },
		"nested":     func() { velo.Binary[nested]() },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "Binary accepted an unsized type")
				msg := fmt.Sprint(r)
				require.Contains(t, msg, "velo.Binary[")
				require.Contains(t, msg, "use JSON or a custom Codec")
			}()
			f()
		})
	}

	// The message names the field at fault.
	require.PanicsWithValue(t,
		"velo.Binary[velo_test.nested]: velo_test.nested.Q[].B is of type []uint8, which has no fixed size; use JSON or a custom Codec",
		func() { velo.Binary[nested]() })
	// binary.Size accepts unexported fields, but decoding into one would
	// panic in reflect, so Binary refuses them up front.
	require.Positive(t, binary.Size(unexported{a: 1}))
	require.PanicsWithValue(t,
		"velo.Binary[velo_test.unexported]: velo_test.unexported.a is unexported; use JSON or a custom Codec",
		func() { velo.Binary[unexported]() })
}

func TestTypedStringAndBytes(t *testing.T) {
	c := newTypedCache(t)
	s := velo.NewTyped(c, velo.String())
	require.NoError(t, s.Set("s", "héllo", 0))
	require.NoError(t, s.Set("empty", "", 0))
	got, ok, err := s.Get("s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "héllo", got)
	got, ok, err = s.Get("empty")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "", got)

	// Decoded values do not share the pooled buffer: a later Get of
	// another key must not change a string or slice returned earlier.
	b := velo.NewTyped(c, velo.Bytes())
	require.NoError(t, b.Set("b1", []byte("first"), 0))
	require.NoError(t, b.Set("b2", []byte("SECOND"), 0))
	first, ok, err := b.Get("b1")
	require.NoError(t, err)
	require.True(t, ok)
	str, _, _ := s.Get("s")
	for range 10 {
		_, _, _ = b.Get("b2")
		_, _, _ = s.Get("empty")
	}
	require.Equal(t, "first", string(first))
	require.Equal(t, "héllo", str)
}

func TestTypedDecodeError(t *testing.T) {
	c := newTypedCache(t)
	require.NoError(t, c.Set("j", []byte("{not json"), 0))
	require.NoError(t, c.Set("b", []byte("short"), 0))

	j := velo.NewTyped(c, velo.JSON[typedUser]())
	u, ok, err := j.Get("j")
	require.False(t, ok)
	require.Zero(t, u)
	var syn *json.SyntaxError
	require.ErrorAs(t, err, &syn)
	require.Contains(t, err.Error(), `"j"`)

	// A wrong type inside valid JSON is an error too, not a partial value.
	require.NoError(t, c.Set("j", []byte(`{"id":"not a number","name":"x"}`), 0))
	u, ok, err = j.Get("j")
	require.Error(t, err)
	require.False(t, ok)
	require.Zero(t, u)

	b := velo.NewTyped(c, velo.Binary[typedPoint]())
	p, ok, err := b.Get("b")
	require.False(t, ok)
	require.Zero(t, p)
	require.ErrorContains(t, err, "5 bytes, want")
	require.Contains(t, err.Error(), `"b"`)

	// Treating the error as a miss and setting again repairs the entry.
	require.NoError(t, b.Set("b", typedPoint{X: 1}, 0))
	p, ok, err = b.Get("b")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1.0, p.X)
}

func TestTypedEncodeErrorKeepsOldValue(t *testing.T) {
	type withFloat struct{ F float64 }
	type withChan struct{ C chan int }
	c := newTypedCache(t)

	f := velo.NewTyped(c, velo.JSON[withFloat]())
	require.NoError(t, f.Set("k", withFloat{F: 1}, 0))
	err := f.Set("k", withFloat{F: math.Inf(1)}, 0)
	var unsupported *json.UnsupportedValueError
	require.ErrorAs(t, err, &unsupported)
	require.Contains(t, err.Error(), `"k"`)
	got, ok, err := f.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1.0, got.F)

	ch := velo.NewTyped(c, velo.JSON[withChan]())
	err = ch.Set("k", withChan{C: make(chan int)}, 0)
	var unsupportedType *json.UnsupportedTypeError
	require.ErrorAs(t, err, &unsupportedType)
	raw, ok := c.Get("k")
	require.True(t, ok)
	require.Equal(t, `{"F":1}`, string(raw))

	// A failed encode must not leave bytes behind in the pooled buffer
	// that the next Set would store.
	require.NoError(t, f.Set("k2", withFloat{F: 2}, 0))
	raw, _ = c.Get("k2")
	require.Equal(t, `{"F":2}`, string(raw))
}

func TestTypedCacheErrors(t *testing.T) {
	c, err := velo.New(velo.Options{MaxBytes: 1 << 20, MaxValueBytes: 4096})
	require.NoError(t, err)
	s := velo.NewTyped(c, velo.String())
	require.NoError(t, s.Set("k", "v1", 0))

	// The cache's errors pass through unwrapped and leave the old value.
	require.ErrorIs(t, s.Set("k", strings.Repeat("x", 8192), 0), velo.ErrTooLarge)
	require.ErrorIs(t, s.Set("k", "v2", -time.Second), velo.ErrInvalidTTL)
	v, ok, err := s.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v1", v)

	require.NoError(t, c.Close())
	require.ErrorIs(t, s.Set("k", "v3", 0), velo.ErrClosed)
	_, ok, err = s.Get("k")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestTypedLargeValues(t *testing.T) {
	c, err := velo.New(velo.Options{MaxBytes: 64 << 20, SegmentBytes: 1 << 20})
	require.NoError(t, err)
	defer c.Close()
	s := velo.NewTyped(c, velo.String())
	// Values larger than the pooled-buffer cap, then small ones: each Get
	// returns exactly its own value whatever buffer the pool hands out.
	for i, n := range []int{100 << 10, 10, 300 << 10, 0, 5} {
		key := strconv.Itoa(i)
		want := strings.Repeat(string(rune('a'+i)), n)
		require.NoError(t, s.Set(key, want, 0))
		got, ok, err := s.Get(key)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
}

// typedUpperCodec is a user-written codec: strings stored upper-case, with a
// one-byte version prefix it checks on the way out.
type typedUpperCodec struct{}

func (typedUpperCodec) Append(dst []byte, v string) ([]byte, error) {
	if strings.ContainsRune(v, 0) {
		return dst, errors.New("NUL in value")
	}
	dst = append(dst, 1)
	return append(dst, strings.ToUpper(v)...), nil
}

func (typedUpperCodec) Decode(data []byte) (string, error) {
	if len(data) == 0 || data[0] != 1 {
		return "", errors.New("unknown version")
	}
	return string(data[1:]), nil
}

func TestTypedCustomCodec(t *testing.T) {
	c := newTypedCache(t)
	tc := velo.NewTyped[string](c, typedUpperCodec{})
	require.NoError(t, tc.Set("k", "hello", 0))
	got, ok, err := tc.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "HELLO", got)
	raw, _ := c.Get("k")
	require.Equal(t, "\x01HELLO", string(raw))

	require.ErrorContains(t, tc.Set("k", "a\x00b", 0), "NUL in value")
	got, _, _ = tc.Get("k")
	require.Equal(t, "HELLO", got)

	require.NoError(t, c.Set("k", []byte("\x02v2"), 0))
	_, ok, err = tc.Get("k")
	require.False(t, ok)
	require.ErrorContains(t, err, "unknown version")
}

func TestNewTypedNil(t *testing.T) {
	require.Panics(t, func() { velo.NewTyped[string](nil, velo.String()) })
	require.Panics(t, func() { velo.NewTyped[string](newTypedCache(t), nil) })
}

// typedRecord carries a checksum of the key it was stored under and of its
// own contents, so a reader can tell whether it got another key's value or
// a mixture of two writes.
type typedRecord struct {
	KeySum uint32
	Writer uint32
	Seq    uint64
	Check  uint64
}

func newTypedRecord(key string, writer uint32, seq uint64) typedRecord {
	r := typedRecord{KeySum: crc32.ChecksumIEEE([]byte(key)), Writer: writer, Seq: seq}
	r.Check = uint64(r.KeySum)*31 + uint64(writer)*17 + seq*7
	return r
}

func (r typedRecord) valid(key string) bool {
	return r.KeySum == crc32.ChecksumIEEE([]byte(key)) &&
		r.Check == uint64(r.KeySum)*31+uint64(r.Writer)*17+r.Seq*7
}

// typedDoc is the JSON counterpart: variable-length contents that repeat
// the key, so a value stored under another key, or one cut short, fails.
type typedDoc struct {
	Key  string   `json:"key"`
	Seq  int      `json:"seq"`
	Body []string `json:"body"`
}

// TestTypedConcurrent runs writers and readers on overlapping keys with both
// the Binary and JSON codecs; run it under -race. It checks that each value
// read belongs to its key and is whole, which is what the shared buffer
// pool must not break.
func TestTypedConcurrent(t *testing.T) {
	c := newTypedCache(t)
	bin := velo.NewTyped(c, velo.Binary[typedRecord]())
	js := velo.NewTyped(c, velo.JSON[typedDoc]())
	const goroutines, keys = 8, 32
	iters := 2000
	if testing.Short() {
		iters = 200
	}

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				k := (i*7 + g) % keys
				bk, jk := "bin:"+strconv.Itoa(k), "json:"+strconv.Itoa(k)
				if i%3 == 0 {
					if err := bin.Set(bk, newTypedRecord(bk, uint32(g), uint64(i)), 0); err != nil {
						errs <- err
						return
					}
					doc := typedDoc{Key: jk, Seq: i, Body: make([]string, i%5)}
					for j := range doc.Body {
						doc.Body[j] = jk + "/" + strconv.Itoa(j)
					}
					if err := js.Set(jk, doc, 0); err != nil {
						errs <- err
						return
					}
					continue
				}
				if r, ok, err := bin.Get(bk); err != nil || (ok && !r.valid(bk)) {
					errs <- fmt.Errorf("Get(%q) = %+v, %v, %v", bk, r, ok, err)
					return
				}
				d, ok, err := js.Get(jk)
				if err != nil {
					errs <- fmt.Errorf("Get(%q): %v", jk, err)
					return
				}
				if ok {
					if d.Key != jk || len(d.Body) != d.Seq%5 {
						errs <- fmt.Errorf("Get(%q) = %+v", jk, d)
						return
					}
					for j, s := range d.Body {
						if s != jk+"/"+strconv.Itoa(j) {
							errs <- fmt.Errorf("Get(%q) = %+v", jk, d)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTypedAllocs pins the point of the pooled buffers: with the Binary
// codec neither Get nor Set allocates once the pools are warm. (Under
// -race sync.Pool drops a share of Puts on purpose; the average over
// the runs still rounds down to zero.)
func TestTypedAllocs(t *testing.T) {
	c := newTypedCache(t)
	tc := velo.NewTyped(c, velo.Binary[typedRecord]())
	r := newTypedRecord("k", 1, 2)
	require.NoError(t, tc.Set("k", r, 0))
	set := testing.AllocsPerRun(200, func() { _ = tc.Set("k", r, 0) })
	get := testing.AllocsPerRun(200, func() { _, _, _ = tc.Get("k") })
	require.Zero(t, set, "Typed.Set with Binary allocates")
	require.Zero(t, get, "Typed.Get with Binary allocates")
}

// The benchmarks compare Binary with a hand-written codec on the claim that
// both store the same bytes; hold them to it.
func TestTypedBenchCodecMatchesBinary(t *testing.T) {
	r := typedBenchRecord{ID: 1, Version: 2, Score: -0.5, Lat: 3, Lon: 4, Created: -5, Counts: [4]uint32{6, 7, 8, 9}}
	want, err := velo.Binary[typedBenchRecord]().Append(nil, r)
	require.NoError(t, err)
	got, err := typedBenchCodec{}.Append(nil, r)
	require.NoError(t, err)
	require.Equal(t, want, got)
	back, err := typedBenchCodec{}.Decode(got)
	require.NoError(t, err)
	require.Equal(t, r, back)
}

func TestTypedGetOrLoad(t *testing.T) {
	c, err := velo.New(velo.Options{})
	require.NoError(t, err)
	defer c.Close()
	type user struct {
		Name string
		Age  int
	}
	users := velo.NewTyped(c, velo.JSON[user]())
	ctx := context.Background()
	var calls atomic.Int32
	load := func(context.Context) (user, time.Duration, error) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // slow: concurrent callers share it
		return user{"Ada", 36}, time.Minute, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := users.GetOrLoad(ctx, "u:1", load)
			assert.NoError(t, err)
			assert.Equal(t, user{"Ada", 36}, u)
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1), calls.Load(), "one load for concurrent misses")
	u, ok, err := users.Get("u:1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, user{"Ada", 36}, u)

	// Errors from load and from encoding are returned, and nothing is
	// cached.
	boom := errors.New("boom")
	_, err = users.GetOrLoad(ctx, "u:2", func(context.Context) (user, time.Duration, error) { return user{}, 0, boom })
	require.ErrorIs(t, err, boom)
	floats := velo.NewTyped(c, velo.JSON[float64]())
	_, err = floats.GetOrLoad(ctx, "f", func(context.Context) (float64, time.Duration, error) { return math.Inf(1), 0, nil })
	require.Error(t, err)
	require.False(t, c.Has("f"))

	// A stored value that does not decode is an error.
	require.NoError(t, c.Set("u:3", []byte("not json"), 0))
	_, err = users.GetOrLoad(ctx, "u:3", load)
	require.Error(t, err)
}

// A nil load is refused, as by Cache.GetOrLoad, not run.
func TestTypedGetOrLoadNilLoad(t *testing.T) {
	c, err := velo.New(velo.Options{})
	require.NoError(t, err)
	defer c.Close()
	tc := velo.NewTyped(c, velo.String())
	_, want := c.GetOrLoad(context.Background(), "k", nil)
	_, err = tc.GetOrLoad(context.Background(), "k", nil)
	require.Error(t, err)
	require.Equal(t, want, err)
	require.Zero(t, c.Stats().Loads)
}
