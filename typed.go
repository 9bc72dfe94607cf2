package velo

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"time"
)

// Codec turns values of type V into bytes and back, for Typed. JSON,
// Binary, String and Bytes provide the common cases; any type with these
// two methods is a Codec.
//
// Append appends the encoding of v to dst and returns the extended slice,
// as the built-in append does. It must not keep dst or the result: Typed
// passes a pooled buffer and reuses it once the cache has copied the bytes.
// Appending rather than returning a fresh slice is what lets Set encode
// without allocating a buffer per call (for encodings up to 64 KiB: larger
// buffers are not pooled, so that one large value does not pin its buffer).
//
// Decode returns the value encoded in data, or an error if data is not a
// valid encoding (not a half-filled value). data is valid only during the
// call: it is a pooled buffer that the next Get overwrites, so Decode must
// copy whatever it keeps, as string(data) and bytes.Clone do. Every codec
// in this package does.
//
// A Codec must be safe for concurrent use: a Typed calls it from every
// goroutine that uses the Typed.
type Codec[V any] interface {
	Append(dst []byte, v V) ([]byte, error)
	Decode(data []byte) (V, error)
}

// Typed stores values of type V in a Cache, encoded by a Codec, for callers
// that cache structs and would otherwise marshal at every call site.
//
// Its entries are ordinary entries of the underlying Cache, which keeps its
// promises about them (copies, TTLs, the memory budget), and Typed adds no
// state beyond pooled buffers. Several Typed values, of the same or different
// types, may share one Cache. Give their keys distinct prefixes, because a
// Typed decodes whatever bytes are stored under the key it is asked for.
//
// A Typed is safe for concurrent use if its Codec is; every codec in this
// package is.
type Typed[V any] struct {
	c     *Cache
	codec Codec[V]
}

// NewTyped returns a Typed that stores values in c through codec. It panics
// if either is nil, here rather than at the first Set.
func NewTyped[V any](c *Cache, codec Codec[V]) *Typed[V] {
	if c == nil || codec == nil {
		panic("velo.NewTyped: nil Cache or Codec")
	}
	return &Typed[V]{c: c, codec: codec}
}

// Cache returns the underlying cache, for Len, Stats, Close or raw access.
func (t *Typed[V]) Cache() *Cache { return t.c }

// Set encodes v and stores it under key, as Cache.Set does.
//
// If the codec fails, Set returns its error wrapped with the key, and the
// value already stored under key, if any, is left as it was. The Cache's
// own errors (ErrTooLarge, ErrInvalidTTL, ErrClosed) are returned as
// Cache.Set returns them, so errors.Is works the same way.
func (t *Typed[V]) Set(key string, v V, ttl time.Duration) error {
	bp := getBuf()
	b, err := t.codec.Append((*bp)[:0], v)
	if err != nil {
		err = fmt.Errorf("velo: encoding the value for key %q: %w", key, err)
	} else {
		// Cache.Set copies b, so the buffer can go back to the pool.
		err = t.c.Set(key, b, ttl)
	}
	putBuf(bp, b)
	return err
}

// Get returns the value stored under key and true, or the zero value, false
// and nil on a miss.
//
// If the stored bytes do not decode, Get returns the zero value, false and
// an error that names the key and wraps the codec's error. A caller that
// logs the error and treats it as a miss recomputes the value, and its Set
// replaces the bad entry.
//
// The stored bytes are read into a pooled buffer (Cache.AppendValue), so
// for values up to 64 KiB Get allocates only what the codec's Decode does;
// a larger value is read into a buffer of its own.
func (t *Typed[V]) Get(key string) (V, bool, error) {
	bp := getBuf()
	b, ok := t.c.AppendValue((*bp)[:0], key)
	var v V
	var err error
	if ok {
		v, err = t.codec.Decode(b)
		if err != nil {
			var zero V
			v, ok = zero, false
			err = fmt.Errorf("velo: decoding the value for key %q: %w", key, err)
		}
	}
	putBuf(bp, b)
	return v, ok, err
}

// GetOrLoad is Cache.GetOrLoad for typed values: on a miss, load's value
// is encoded and cached, once per key however many callers miss at the
// same time, and every caller gets it decoded from the bytes the load
// produced (so each has its own copy). An encoding error is returned to
// the callers like an error from load, and nothing is cached; a stored
// value that does not decode is returned as an error, as by Get. An error
// wrapping ErrNotFound with a positive TTL caches the key's absence, as
// Cache.GetOrLoad does; a stale value (see [Options.StaleIfError]) comes
// decoded, with its *StaleError.
func (t *Typed[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (V, time.Duration, error)) (V, error) {
	if load == nil {
		var zero V
		return zero, errNilLoad
	}
	b, err := t.c.GetOrLoad(ctx, key, func(ctx context.Context) ([]byte, time.Duration, error) {
		v, ttl, err := load(ctx)
		if err != nil {
			return nil, ttl, err // the TTL of an absence (ErrNotFound)
		}
		// Not a pooled buffer: GetOrLoad keeps the slice it is given
		// until every waiting caller has its copy.
		b, err := t.codec.Append(nil, v)
		if err != nil {
			return nil, 0, fmt.Errorf("velo: encoding the value for key %q: %w", key, err)
		}
		return b, ttl, nil
	})
	var zero V
	if err != nil && b == nil {
		return zero, err
	}
	// Cache.GetOrLoad returns a value with an error only for a stale one
	// (a *StaleError): it is decoded and returned with the error.
	v, decodeErr := t.codec.Decode(b)
	if decodeErr != nil {
		return zero, fmt.Errorf("velo: decoding the value for key %q: %w", key, decodeErr)
	}
	return v, err
}

// Has reports whether key is stored and unexpired, without decoding it.
func (t *Typed[V]) Has(key string) bool { return t.c.Has(key) }

// Delete removes key and reports whether it was present.
func (t *Typed[V]) Delete(key string) bool { return t.c.Delete(key) }

// bufPool holds the buffers that Set encodes into and Get reads into,
// shared by every Typed. It keeps about one buffer per goroutine in flight
// instead of allocating one per call. Buffers are held through pointers so
// that Put does not allocate to box a slice header.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 256)
	return &b
}}

// maxPooledBuf caps the buffers returned to the pool, so that one large
// value does not keep a buffer its size alive for every P.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns bp to the pool, keeping b's storage if it grew from *bp's.
// A codec that failed may have returned nil, in which case *bp is kept.
func putBuf(bp *[]byte, b []byte) {
	if cap(b) > cap(*bp) {
		*bp = b[:0]
	}
	if cap(*bp) <= maxPooledBuf {
		bufPool.Put(bp)
	}
}

// JSON returns a Codec that stores values as encoding/json does, with
// Marshal's output and Unmarshal's rules. It suits structs with strings,
// slices or maps, and values that other programs read. Values JSON cannot
// represent (channels, functions, NaN or infinite floats) fail in Set.
func JSON[V any]() Codec[V] { return jsonCodec[V]{} }

type jsonCodec[V any] struct{}

// Append encodes through a pooled json.Encoder that writes straight into
// dst. json.Marshal would copy its output into a new slice on every call,
// which is an allocation as large as the value that this way avoids.
func (jsonCodec[V]) Append(dst []byte, v V) ([]byte, error) {
	e := jsonEncoders.Get().(*jsonEncoder)
	e.buf = dst
	err := e.enc.Encode(v)
	out := e.buf
	e.buf = nil // do not keep the caller's buffer
	jsonEncoders.Put(e)
	if err != nil {
		return dst, err
	}
	// Encoder terminates each value with a newline; Marshal does not.
	return out[:len(out)-1], nil
}

func (jsonCodec[V]) Decode(data []byte) (V, error) {
	var v V
	err := json.Unmarshal(data, &v) // copies strings and json.RawMessage
	return v, err
}

// jsonEncoder is a json.Encoder bound to a buffer it appends to. Reusing one
// is safe because an Encoder keeps an error only when its writer fails, and
// appending never does.
type jsonEncoder struct {
	enc *json.Encoder
	buf []byte
}

func (e *jsonEncoder) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	return len(p), nil
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(e)
	return e
}}

// Binary returns a Codec for fixed-size values: bools, sized integers,
// floats and complex numbers, and arrays and structs of them, with exported
// or blank (_) fields. It writes the little-endian layout of
// encoding/binary, exactly binary.Size(v) bytes with no field names, so it
// is smaller and faster than JSON. Decode rejects data of any other length.
// The layout follows the field order, so changing the type makes old
// entries decode wrongly or fail.
//
// encoding/binary walks the value by reflection on every call, which for
// a 64-byte struct costs a few times what the cache's own Get does. Where
// that matters, a hand-written Codec using binary.LittleEndian's
// AppendUint64, Uint64 and the like, field by field, is several times
// faster; BenchmarkTypedGet and BenchmarkTypedSet measure both.
//
// Binary panics if V is not such a type: int, uint, uintptr, strings,
// slices, maps, pointers, interfaces and unexported fields have no fixed
// encoding. Whether it panics depends only on V, so the mistake shows on
// the first run that builds the codec. An error from Set would be easy to
// drop, since cache writes are often best-effort, and would leave a cache
// that always misses.
func Binary[V any]() Codec[V] {
	t := reflect.TypeFor[V]()
	if err := checkFixedSize(t, t.String()); err != nil {
		panic(fmt.Sprintf("velo.Binary[%v]: %v; use JSON or a custom Codec", t, err))
	}
	var zero V
	return binaryCodec[V]{size: binary.Size(zero)}
}

type binaryCodec[V any] struct {
	size int // the encoding's length, from binary.Size
}

// Append and Decode hand encoding/binary a pointer to v. It does not
// escape (go build -gcflags=-m), so neither allocates, and the pointer
// makes v's fields settable, which keeps encoding/binary off a path that
// builds a reflect.StructField per field: twice as fast as passing v.
func (c binaryCodec[V]) Append(dst []byte, v V) ([]byte, error) {
	return binary.Append(dst, binary.LittleEndian, &v)
}

func (c binaryCodec[V]) Decode(data []byte) (V, error) {
	var v V
	if len(data) != c.size {
		return v, fmt.Errorf("velo: Binary codec: %d bytes, want %d for %v", len(data), c.size, reflect.TypeFor[V]())
	}
	_, err := binary.Decode(data, binary.LittleEndian, &v)
	return v, err
}

// checkFixedSize reports why t has no encoding/binary layout that both
// directions handle, naming the part at fault by its path from the root
// type. binary.Size alone would accept unexported fields, which Decode
// then panics on, and a slice, whose size depends on its length.
func checkFixedSize(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return checkFixedSize(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && f.Name != "_" {
				return fmt.Errorf("%s.%s is unexported", path, f.Name)
			}
			if err := checkFixedSize(f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s is of type %v, which has no fixed size", path, t)
}

// String returns a Codec that stores a string's bytes as they are.
func String() Codec[string] { return stringCodec{} }

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (stringCodec) Decode(data []byte) (string, error)          { return string(data), nil }

// Bytes returns a Codec that stores a byte slice as it is, and whose Decode
// returns a copy the caller owns. It is for code that is generic over a
// Codec, or that wraps one (to compress, say). A Typed[[]byte] with this
// codec behaves as its Cache does.
func Bytes() Codec[[]byte] { return bytesCodec{} }

type bytesCodec struct{}

func (bytesCodec) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesCodec) Decode(data []byte) ([]byte, error)          { return bytes.Clone(data), nil }
