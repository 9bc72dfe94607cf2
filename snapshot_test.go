package velo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/velocache/velo/clock"
)

// setWall makes wallClock return *now until the test ends.
func setWall(t testing.TB, now *time.Time) {
	old := wallClock
	wallClock = func() time.Time { return *now }
	t.Cleanup(func() { wallClock = old })
}

func save(t testing.TB, c *Cache) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, c.SaveTo(&buf))
	return buf.Bytes()
}

func contents(c *Cache) map[string]string {
	m := make(map[string]string)
	for k, v := range c.All() {
		m[k] = string(v)
	}
	return m
}

// snapRecord is an entry record found by parsing a valid snapshot.
type snapRecord struct {
	key, value string
	end        int // offset just past the record
}

// parseSnapshot splits a valid snapshot into its entry records, reading
// the format as docs/snapshot.md describes it, and returns the offset of
// the end record.
func parseSnapshot(t testing.TB, data []byte) ([]snapRecord, int) {
	t.Helper()
	var recs []snapRecord
	off := snapHeaderSize
	for data[off] == kindEntry {
		k := int(binary.LittleEndian.Uint16(data[off+1:]))
		v := int(binary.LittleEndian.Uint32(data[off+3:]))
		body := data[off+entryHeadSize:]
		end := off + entryHeadSize + k + v + 4
		recs = append(recs, snapRecord{string(body[:k]), string(body[k : k+v]), end})
		off = end
	}
	require.Equal(t, byte(kindEnd), data[off])
	require.Equal(t, len(data), off+endSize)
	return recs, off
}

func TestSnapshotRoundTrip(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	src, srcClk := newManual(t, Options{MaxBytes: 64 << 20, SegmentBytes: 64 << 10})
	rng := rand.New(rand.NewPCG(1, 2))

	type entry struct {
		value string
		ttl   time.Duration // as Set; 0: never expires
	}
	want := make(map[string]entry)
	for i := range 3000 {
		key := ""
		if i > 0 {
			b := make([]byte, rng.IntN(40))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			key = fmt.Sprintf("%d:%s", i, b)
		}
		value := make([]byte, rng.IntN(3000))
		if i%10 == 1 {
			value = nil
		}
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		var ttl time.Duration
		if i%3 != 0 {
			ttl = time.Second + time.Duration(rng.Int64N(int64(2*time.Hour)))
		}
		require.NoError(t, src.Set(key, value, ttl))
		want[key] = entry{string(value), ttl}
	}
	require.Equal(t, len(want), src.Len())

	// Five seconds pass on the source, then the snapshot waits a minute:
	// both count against the entries' lifetimes.
	srcClk.Advance(5 * time.Second)
	data := save(t, src)
	wall = wall.Add(time.Minute)
	dst, dstClk := newManual(t, Options{MaxBytes: 64 << 20, SegmentBytes: 64 << 10})
	dstClk.Set(7e15) // the engine clocks of two processes are unrelated
	require.NoError(t, dst.LoadFrom(bytes.NewReader(data)))

	loaded := 0
	for key, w := range want {
		left := w.ttl - 5*time.Second - time.Minute
		v, ok := dst.Get(key)
		if w.ttl != 0 && left <= 0 {
			require.False(t, ok, "entry expired during the downtime was loaded")
			continue
		}
		loaded++
		require.True(t, ok)
		require.Equal(t, w.value, string(v))
		ttl, _ := dst.TTL(key)
		if w.ttl == 0 {
			require.Zero(t, ttl)
		} else {
			require.Equal(t, left, ttl)
		}
		// The stored TTL survives too, for RefreshAhead.
		si, _ := src.e.Info(key)
		di, _ := dst.e.Info(key)
		require.Equal(t, si.TTL, di.TTL)
	}
	require.Equal(t, loaded, dst.Len())
	require.Less(t, loaded, len(want), "some entries should have expired in the test")
}

// A wall clock set back between save and load deducts nothing.
func TestSnapshotWallClockBack(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	src, _ := newManual(t, Options{})
	require.NoError(t, src.Set("k", []byte("v"), time.Hour))
	data := save(t, src)
	wall = wall.Add(-24 * time.Hour)
	dst, _ := newManual(t, Options{})
	require.NoError(t, dst.LoadFrom(bytes.NewReader(data)))
	ttl, ok := dst.TTL("k")
	require.True(t, ok)
	require.Equal(t, time.Hour, ttl)
}

// checkedValue returns a value that carries the checksum of its key and
// payload, so that any value can be verified on its own.
func checkedValue(key string, payload []byte) []byte {
	sum := crc32.Update(crc32.ChecksumIEEE([]byte(key)), crc32.IEEETable, payload)
	return binary.LittleEndian.AppendUint32(append([]byte(nil), payload...), sum)
}

func verifyValue(key string, v []byte) error {
	if len(v) < 4 {
		return fmt.Errorf("key %q: value of %d bytes", key, len(v))
	}
	payload := v[:len(v)-4]
	if !bytes.Equal(checkedValue(key, payload), v) {
		return fmt.Errorf("key %q: value does not match its key", key)
	}
	return nil
}

// Saving while writers and readers hammer the cache yields snapshots that
// load without error and whose every entry is intact.
func TestSnapshotWhileServing(t *testing.T) {
	c, err := New(Options{MaxBytes: 4 << 20, Shards: 4})
	require.NoError(t, err)
	defer c.Close()
	// Filled before the writers start, so that every snapshot has entries
	// to save however slowly the writers get going: a full cache evicts,
	// it is never emptied.
	for i := range 2000 {
		key := fmt.Sprintf("key-%d", i)
		require.NoError(t, c.Set(key, checkedValue(key, []byte("prefill")), 0))
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0))
			payload := make([]byte, 300)
			for !stop.Load() {
				key := fmt.Sprintf("key-%d", rng.IntN(20000))
				switch rng.IntN(10) {
				case 0:
					c.Delete(key)
				case 1:
					_ = c.Set(key, checkedValue(key, payload[:rng.IntN(300)]), time.Duration(1+rng.IntN(1000))*time.Millisecond)
				default:
					for i := range payload {
						payload[i] = byte(rng.Uint32())
					}
					_ = c.Set(key, checkedValue(key, payload[:rng.IntN(300)]), 0)
				}
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				key := fmt.Sprintf("key-%d", rng.IntN(20000))
				if v, ok := c.Get(key); ok {
					if err := verifyValue(key, v); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}

	for range 5 {
		time.Sleep(20 * time.Millisecond)
		var buf bytes.Buffer
		require.NoError(t, c.SaveTo(&buf))
		dst, err := New(Options{MaxBytes: 16 << 20})
		require.NoError(t, err)
		require.NoError(t, dst.LoadFrom(&buf))
		n := 0
		for k, v := range dst.All() {
			require.NoError(t, verifyValue(k, v))
			n++
		}
		require.NotZero(t, n)
		dst.Close()
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// smallSnapshot returns a snapshot of a few entries, an empty key and an
// empty value among them, and the source's contents.
func smallSnapshot(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	src, _ := newManual(t, Options{})
	require.NoError(t, src.Set("", []byte("empty key"), 0))
	require.NoError(t, src.Set("empty value", nil, time.Hour))
	require.NoError(t, src.Set("a", []byte("alpha"), time.Minute))
	require.NoError(t, src.Set("b", bytes.Repeat([]byte("b"), 100), 0))
	require.NoError(t, src.Set("c", []byte("gamma"), 0))
	return save(t, src), contents(src)
}

// loadedBefore returns the entries of the records that end by offset n.
func loadedBefore(recs []snapRecord, n int) map[string]string {
	m := make(map[string]string)
	for _, r := range recs {
		if r.end <= n {
			m[r.key] = r.value
		}
	}
	return m
}

func TestSnapshotTruncated(t *testing.T) {
	data, _ := smallSnapshot(t)
	recs, _ := parseSnapshot(t, data)
	dst, _ := newManual(t, Options{})
	for n := range len(data) {
		dst.Clear()
		err := dst.LoadFrom(bytes.NewReader(data[:n]))
		require.ErrorIs(t, err, ErrSnapshotCorrupt, "cut at %d", n)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", n)
		require.Equal(t, loadedBefore(recs, n), contents(dst), "cut at %d", n)
	}
	dst.Clear()
	require.NoError(t, dst.LoadFrom(bytes.NewReader(data)))
	require.Equal(t, loadedBefore(recs, len(data)), contents(dst))
}

func TestSnapshotBitFlips(t *testing.T) {
	data, _ := smallSnapshot(t)
	recs, _ := parseSnapshot(t, data)
	dst, _ := newManual(t, Options{})
	bad := make([]byte, len(data))
	for i := range data {
		// The records loaded are those wholly before the damaged byte.
		want := loadedBefore(recs, i)
		if i < snapHeaderSize {
			want = map[string]string{}
		}
		for bit := range 8 {
			copy(bad, data)
			bad[i] ^= 1 << bit
			dst.Clear()
			err := dst.LoadFrom(bytes.NewReader(bad))
			require.ErrorIs(t, err, ErrSnapshotCorrupt, "byte %d bit %d", i, bit)
			require.Equal(t, want, contents(dst), "byte %d bit %d", i, bit)
		}
	}
}

func TestSnapshotDamagedFraming(t *testing.T) {
	data, _ := smallSnapshot(t)
	recs, endOff := parseSnapshot(t, data)
	dst, _ := newManual(t, Options{})

	// Data after the end record: everything is loaded, and reported.
	err := dst.LoadFrom(bytes.NewReader(append(bytes.Clone(data), 0)))
	require.ErrorIs(t, err, ErrSnapshotCorrupt)
	require.ErrorContains(t, err, "after the end record")
	require.Equal(t, loadedBefore(recs, len(data)), contents(dst))

	// A whole record dropped from the middle: the end record's count
	// catches it.
	cut := append(bytes.Clone(data[:recs[1].end]), data[recs[2].end:]...)
	dst.Clear()
	err = dst.LoadFrom(bytes.NewReader(cut))
	require.ErrorIs(t, err, ErrSnapshotCorrupt)
	require.ErrorContains(t, err, "counts")

	// A snapshot ending right after a record, without its end record.
	dst.Clear()
	err = dst.LoadFrom(bytes.NewReader(data[:endOff]))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, fmt.Sprintf("record %d at byte %d", len(recs)+1, endOff))

	// Not a snapshot at all.
	for _, s := range []string{"", "hello, world: this is not a snapshot", snapMagic} {
		err = dst.LoadFrom(strings.NewReader(s))
		require.ErrorIs(t, err, ErrSnapshotCorrupt, "%q", s)
	}
}

func TestSnapshotVersion(t *testing.T) {
	data, _ := smallSnapshot(t)
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[8:], snapVersion+1)
	binary.LittleEndian.PutUint32(bad[20:], crc32.Checksum(bad[:20], castagnoli))
	dst, _ := newManual(t, Options{})
	err := dst.LoadFrom(bytes.NewReader(bad))
	require.ErrorIs(t, err, ErrSnapshotVersion)
	require.NotErrorIs(t, err, ErrSnapshotCorrupt)
	require.Zero(t, dst.Len())
}

func TestSnapshotTooLarge(t *testing.T) {
	src, _ := newManual(t, Options{SegmentBytes: 64 << 10})
	big := bytes.Repeat([]byte("x"), 10<<10)
	for i := range 3 {
		require.NoError(t, src.Set(fmt.Sprint("big", i), big, 0))
	}
	for i := range 10 {
		require.NoError(t, src.Set(fmt.Sprint("small", i), []byte("s"), 0))
	}
	data := save(t, src)

	dst, _ := newManual(t, Options{MaxValueBytes: 4096, MaxBytes: 1 << 20})
	err := dst.LoadFrom(bytes.NewReader(data))
	require.ErrorIs(t, err, ErrTooLarge)
	require.NotErrorIs(t, err, ErrSnapshotCorrupt)
	require.ErrorContains(t, err, "skipped 3 ")
	require.Equal(t, 10, dst.Len())
	for i := range 10 {
		require.True(t, dst.Has(fmt.Sprint("small", i)))
	}

	// A skipped record is still verified.
	recs, _ := parseSnapshot(t, data)
	for _, r := range recs {
		if len(r.value) == len(big) {
			bad := bytes.Clone(data)
			bad[r.end-100] ^= 1
			err := dst.LoadFrom(bytes.NewReader(bad))
			require.ErrorIs(t, err, ErrSnapshotCorrupt)
			break
		}
	}
}

// An entry whose key is longer than the loading cache takes is read
// through without being held, as one with too long a value is, and the
// error says which limit each skipped entry passed.
func TestSnapshotKeyTooLong(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	dst, _ := newManual(t, Options{MaxBytes: 4 << 10})
	maxKey := dst.e.MaxKeyBytes()
	require.Less(t, maxKey, 65535, "the test needs a cache whose key limit is below the format's")
	snap := func(entries ...[]byte) []byte {
		data := snapHeader(wall.UnixNano())
		for _, e := range entries {
			data = append(data, e...)
		}
		return append(data, snapEnd(uint64(len(entries)))...)
	}
	fits := snap(snapEntry(strings.Repeat("k", maxKey), "v", 0, 0))
	long := snap(snapEntry(strings.Repeat("k", 65535), "v", 0, 0),
		snapEntry("ok", "v", 0, 0),
		snapEntry("v", strings.Repeat("v", dst.MaxValueBytes()+1), 0, 0))
	require.NoError(t, dst.LoadFrom(bytes.NewReader(fits)))
	dst.Clear()

	var err error
	allocated := allocatedBy(func() { err = dst.LoadFrom(bytes.NewReader(long)) })
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "skipped 2 snapshot entries, 1 with keys over")
	require.ErrorContains(t, err, "and 1 with values over")
	require.True(t, dst.Has("ok"))
	require.Equal(t, 1, dst.Len())
	// The bufio.Reader's 64 KiB and the record buffer, at most
	// MaxEntryBytes plus framing (docs/snapshot.md), and some slack: not
	// the 64 KiB key.
	require.Less(t, allocated, uint64(64<<10+dst.MaxEntryBytes()+27+16<<10), "a record with too long a key was held")
	require.Zero(t, dst.Stats().Rejected, "a skipped record is not a refused Set")
}

// allocatedBy returns the bytes f allocated.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A reader's error in the middle of a record that is read through is
// returned as it is, even if the reader goes on afterwards (bufio.Reader
// hands an error out once).
func TestSnapshotReaderErrorInSkippedRecord(t *testing.T) {
	src, _ := newManual(t, Options{SegmentBytes: 64 << 10})
	require.NoError(t, src.Set("big", bytes.Repeat([]byte("x"), 10<<10), 0))
	data := save(t, src)
	for name, opts := range map[string]Options{
		"skipped": {MaxValueBytes: 4096, MaxBytes: 1 << 20},
		"held":    {},
	} {
		dst, _ := newManual(t, opts)
		r := &failOnce{r: bytes.NewReader(data), at: snapHeaderSize + entryHeadSize + 3 + 5000}
		require.ErrorIs(t, dst.LoadFrom(r), errFailOnce, name)
	}
}

// failOnce reads from r, and fails once after at bytes.
type failOnce struct {
	r      io.Reader
	at, n  int
	failed bool
}

var errFailOnce = errors.New("read failed once")

func (f *failOnce) Read(p []byte) (int, error) {
	if !f.failed {
		if f.n == f.at {
			f.failed = true
			return 0, errFailOnce
		}
		p = p[:min(len(p), f.at-f.n)]
	}
	n, err := f.r.Read(p)
	f.n += n
	return n, err
}

// The time a load takes counts against the lifetimes of the entries it
// stores: an entry stored 50 minutes into the load of a snapshot saved
// just before it, with an hour left at the save, has 10 minutes left, and
// one with 40 minutes left is not stored.
func TestSnapshotLoadTimeCounts(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	dst, clk := newManual(t, Options{})
	rest := append(snapEntry("hour", "v", time.Hour, time.Hour), snapEntry("forty", "v", 40*time.Minute, time.Hour)...)
	r := &pausedReader{
		parts: [2][]byte{snapHeader(wall.UnixNano()), append(rest, snapEnd(2)...)},
		pause: func() {
			wall = wall.Add(50 * time.Minute)
			clk.Advance(50 * time.Minute)
		},
	}
	// One byte at a time, so that the header is read before the pause.
	require.NoError(t, dst.LoadFrom(iotest.OneByteReader(r)))
	ttl, ok := dst.TTL("hour")
	require.True(t, ok)
	require.Equal(t, 10*time.Minute, ttl)
	require.False(t, dst.Has("forty"))
}

// pausedReader reads parts[0], calls pause, then reads parts[1].
type pausedReader struct {
	parts [2][]byte
	pause func()
}

func (r *pausedReader) Read(p []byte) (int, error) {
	if len(r.parts[0]) == 0 && r.pause != nil {
		r.pause()
		r.pause = nil
		r.parts[0], r.parts[1] = r.parts[1], nil
	}
	if len(r.parts[0]) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// noReads fails the test if LoadFrom reads it.
type noReads struct{ t *testing.T }

func (r noReads) Read([]byte) (int, error) {
	r.t.Error("LoadFrom read its input on a closed cache")
	return 0, io.EOF
}

// A closed cache refuses every load before reading anything, an empty
// snapshot's included, and LoadFile does not even open the file.
func TestSnapshotClosed(t *testing.T) {
	data, _ := smallSnapshot(t)
	empty, _ := newManual(t, Options{})
	emptyData := save(t, empty)
	path := filepath.Join(t.TempDir(), "cache.snap")
	require.NoError(t, os.WriteFile(path, emptyData, 0o600))

	dst, _ := newManual(t, Options{})
	dst.Close()
	require.ErrorIs(t, dst.LoadFrom(noReads{t}), ErrClosed)
	require.ErrorIs(t, dst.LoadFrom(bytes.NewReader(emptyData)), ErrClosed)
	require.ErrorIs(t, dst.LoadFrom(bytes.NewReader(data)), ErrClosed)
	require.ErrorIs(t, dst.LoadFile(path), ErrClosed)
	err := dst.LoadFile(filepath.Join(t.TempDir(), "missing.snap"))
	require.ErrorIs(t, err, ErrClosed)
	require.NotErrorIs(t, err, fs.ErrNotExist)
	require.Zero(t, dst.Len())
}

// closeOnRead closes c on its first Read, then reads r.
type closeOnRead struct {
	c *Cache
	r io.Reader
}

func (r *closeOnRead) Read(p []byte) (int, error) {
	r.c.Close()
	return r.r.Read(p)
}

// A cache closed during a load reports it, even when no store failed: an
// empty snapshot, or one whose entries all expired.
func TestSnapshotClosedDuringLoad(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	src, _ := newManual(t, Options{})
	emptyData := save(t, src)
	require.NoError(t, src.Set("k", []byte("v"), time.Minute))
	fullData := save(t, src)
	wall = wall.Add(time.Hour) // "k" expires before the load

	for name, data := range map[string][]byte{"empty": emptyData, "expired": fullData} {
		dst, _ := newManual(t, Options{})
		err := dst.LoadFrom(&closeOnRead{dst, bytes.NewReader(data)})
		require.ErrorIs(t, err, ErrClosed, name)
	}
	wall = wall.Add(-time.Hour) // "k" is stored, after the close
	dst, _ := newManual(t, Options{})
	require.ErrorIs(t, dst.LoadFrom(&closeOnRead{dst, bytes.NewReader(fullData)}), ErrClosed)
}

// snapHeader returns a snapshot header with the given save time.
func snapHeader(savedAt int64) []byte {
	h := []byte(snapMagic)
	h = binary.LittleEndian.AppendUint32(h, snapVersion)
	h = binary.LittleEndian.AppendUint64(h, uint64(savedAt))
	return binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
}

// snapEntry returns an entry record, as docs/snapshot.md describes it.
func snapEntry(key, value string, remaining, ttl time.Duration) []byte {
	r := []byte{kindEntry}
	r = binary.LittleEndian.AppendUint16(r, uint16(len(key)))
	r = binary.LittleEndian.AppendUint32(r, uint32(len(value)))
	r = binary.LittleEndian.AppendUint64(r, uint64(remaining))
	r = binary.LittleEndian.AppendUint64(r, uint64(ttl))
	r = append(r, key...)
	r = append(r, value...)
	return binary.LittleEndian.AppendUint32(r, crc32.Checksum(r, castagnoli))
}

// snapEnd returns an end record counting n entries.
func snapEnd(n uint64) []byte {
	r := binary.LittleEndian.AppendUint64([]byte{kindEnd}, n)
	return binary.LittleEndian.AppendUint32(r, crc32.Checksum(r, castagnoli))
}

// withSavedAt returns a copy of a snapshot with its save time replaced.
func withSavedAt(data []byte, savedAt int64) []byte {
	return append(snapHeader(savedAt), data[snapHeaderSize:]...)
}

func savedAtOf(data []byte) int64 {
	return int64(binary.LittleEndian.Uint64(data[12:]))
}

const century = 100 * 365 * 24 * time.Hour

// lifetimeSnapshot saves entries that expire in an hour, in a century and
// never, at the wall time now.
func lifetimeSnapshot(t *testing.T) []byte {
	t.Helper()
	src, _ := newManual(t, Options{})
	require.NoError(t, src.Set("hour", []byte("h"), time.Hour))
	require.NoError(t, src.Set("century", []byte("c"), century))
	require.NoError(t, src.Set("never", []byte("n"), 0))
	return save(t, src)
}

// ttls returns the lifetimes left of the entries loaded.
func ttls(c *Cache) map[string]time.Duration {
	m := make(map[string]time.Duration)
	for k := range c.All() {
		m[k], _ = c.TTL(k)
	}
	return m
}

// A save time so long before the load that the downtime does not fit an
// int64 of nanoseconds (before about 1731 against a load in 2023) expires
// every entry that expires at all; it must not wrap into a negative
// downtime, read as none, that loads them with their full lifetime.
func TestSnapshotSavedLongAgo(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0) // November 2023
	setWall(t, &wall)
	data := lifetimeSnapshot(t)
	now := wall.UnixNano()

	expired := map[string]time.Duration{"never": 0}
	for _, tc := range []struct {
		name    string
		savedAt int64
		want    map[string]time.Duration
	}{
		{"1970", 0, map[string]time.Duration{"never": 0, "century": century - time.Duration(now)}},
		{"downtime MaxInt64", now - math.MaxInt64, expired},
		{"downtime MaxInt64+1", now - math.MaxInt64 - 1, expired},
		{"1700", time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), expired},
		{"MinInt64+1", math.MinInt64 + 1, expired},
		{"MinInt64", math.MinInt64, expired},
	} {
		dst, _ := newManual(t, Options{})
		require.NoError(t, dst.LoadFrom(bytes.NewReader(withSavedAt(data, tc.savedAt))), tc.name)
		require.Equal(t, tc.want, ttls(dst), tc.name)
	}
}

// A save time ahead of the load's wall clock, by an hour or absurdly,
// deducts nothing: entries load with the lifetime they had at the save.
func TestSnapshotSavedInTheFuture(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	data := lifetimeSnapshot(t)
	full := map[string]time.Duration{"hour": time.Hour, "century": century, "never": 0}
	for _, savedAt := range []int64{
		wall.Add(time.Nanosecond).UnixNano(),
		wall.Add(time.Hour).UnixNano(),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
		math.MaxInt64,
	} {
		dst, _ := newManual(t, Options{})
		require.NoError(t, dst.LoadFrom(bytes.NewReader(withSavedAt(data, savedAt))), "savedAt %d", savedAt)
		require.Equal(t, full, ttls(dst), "savedAt %d", savedAt)
	}
}

// Wall clocks outside the years that int64 nanoseconds span (1678 to
// 2262), at the save or at the load: a save records the nearest limit,
// not a wrapped time, and the downtime saturates.
func TestSnapshotWallClockOutOfRange(t *testing.T) {
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	year9999 := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	wall := year1
	setWall(t, &wall)
	early := lifetimeSnapshot(t)
	require.Equal(t, int64(math.MinInt64), savedAtOf(early))
	wall = year9999
	late := lifetimeSnapshot(t)
	require.Equal(t, int64(math.MaxInt64), savedAtOf(late))
	wall = time.Unix(1_700_000_000, 0)
	now := lifetimeSnapshot(t)
	require.Equal(t, wall.UnixNano(), savedAtOf(now))

	full := map[string]time.Duration{"hour": time.Hour, "century": century, "never": 0}
	expired := map[string]time.Duration{"never": 0}
	for _, tc := range []struct {
		name string
		data []byte
		load time.Time
		want map[string]time.Duration
	}{
		{"saved in year 1, loaded now", early, time.Unix(1_700_000_000, 0), expired},
		{"saved in 9999, loaded now", late, time.Unix(1_700_000_000, 0), full},
		{"saved now, loaded in 9999", now, year9999, expired},
		{"saved now, loaded in year 1", now, year1, full},
		{"saved in year 1, loaded in 9999", early, year9999, expired},
		{"saved in 9999, loaded in year 1", late, year1, full},
	} {
		wall = tc.load
		dst, _ := newManual(t, Options{})
		require.NoError(t, dst.LoadFrom(bytes.NewReader(tc.data)), tc.name)
		require.Equal(t, tc.want, ttls(dst), tc.name)
	}
}

// endlessSnapshot is a snapshot that never ends: a header, then valid
// entry records, never expiring, of keys gen-00000000, gen-00000001, ...
// and values endlessValue(0), endlessValue(1), ...
type endlessSnapshot struct {
	started bool
	pending []byte
	records int
}

const endlessRecordSize = entryHeadSize + 12 + 50 + 4

func endlessValue(i int) string { return fmt.Sprintf("%050d", i) }

func (g *endlessSnapshot) Read(p []byte) (int, error) {
	if len(g.pending) == 0 {
		if !g.started {
			g.started = true
			g.pending = snapHeader(wallClock().UnixNano())
		} else {
			g.pending = snapEntry(fmt.Sprintf("gen-%08d", g.records), endlessValue(g.records), 0, 0)
			g.records++
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// loadWithin runs LoadFrom(r) and fails the test if it has not returned
// within a few seconds, rather than hang it.
func loadWithin(t *testing.T, c *Cache, r io.Reader) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.LoadFrom(r) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("LoadFrom still reading")
		return nil
	}
}

// An endless stream of valid records, read through io.LimitReader as
// LoadFrom's documentation says to, ends the load with a truncation error
// at the limit. The records wholly within the limit are loaded, intact,
// and the entries stored before the load are untouched.
func TestLoadFromEndlessStream(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	dst, _ := newManual(t, Options{MaxBytes: 64 << 20})
	for i := range 10 {
		require.NoError(t, dst.Set(fmt.Sprint("keep-", i), []byte(fmt.Sprint("value-", i)), time.Hour))
	}

	const limit = 256 << 10
	lr := &io.LimitedReader{R: &endlessSnapshot{}, N: limit}
	err := loadWithin(t, dst, lr)
	require.ErrorIs(t, err, ErrSnapshotCorrupt)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Zero(t, lr.N, "the limit was reached")

	loaded := (limit - snapHeaderSize) / endlessRecordSize
	require.Equal(t, 10+loaded, dst.Len())
	for i := range 10 {
		v, ok := dst.Get(fmt.Sprint("keep-", i))
		require.True(t, ok)
		require.Equal(t, fmt.Sprint("value-", i), string(v))
		ttl, _ := dst.TTL(fmt.Sprint("keep-", i))
		require.Equal(t, time.Hour, ttl)
	}
	for i := range loaded {
		v, ok := dst.Get(fmt.Sprintf("gen-%08d", i))
		require.True(t, ok, "record %d", i)
		require.Equal(t, endlessValue(i), string(v))
	}
	require.False(t, dst.Has(fmt.Sprintf("gen-%08d", loaded)), "the record cut by the limit")
}

var errReaderDone = errors.New("reader done")

// failAfter reads r until n bytes, then fails with errReaderDone, as a
// reader with a deadline or a context does.
type failAfter struct {
	r io.Reader
	n int64
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errReaderDone
	}
	n, err := f.r.Read(p[:min(int64(len(p)), f.n)])
	f.n -= int64(n)
	return n, err
}

// An error from the reader ends the load, and is returned as it is, not
// as damage; the records before it stay loaded.
func TestLoadFromReaderError(t *testing.T) {
	wall := time.Unix(1_700_000_000, 0)
	setWall(t, &wall)
	dst, _ := newManual(t, Options{})
	const n = snapHeaderSize + 100*endlessRecordSize + 10
	err := loadWithin(t, dst, &failAfter{&endlessSnapshot{}, n})
	require.ErrorIs(t, err, errReaderDone)
	require.NotErrorIs(t, err, ErrSnapshotCorrupt)
	require.Equal(t, 100, dst.Len())
	v, _ := dst.Get("gen-00000099")
	require.Equal(t, endlessValue(99), string(v))
}

// failWriter fails once more than n bytes were written.
type failWriter struct{ n int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestSaveToWriteError(t *testing.T) {
	src, _ := newManual(t, Options{})
	for i := range 2000 {
		require.NoError(t, src.Set(fmt.Sprint(i), make([]byte, 100), 0))
	}
	size := len(save(t, src))
	for _, n := range []int{0, 10, 100 << 10, size - 1} {
		require.ErrorIs(t, src.SaveTo(&failWriter{n}), errWrite, "fail after %d", n)
	}
	require.NoError(t, src.SaveTo(&failWriter{size}))
}

func TestSaveFileLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.snap")
	src, _ := newManual(t, Options{})
	dst, _ := newManual(t, Options{})

	err := dst.LoadFile(path)
	require.ErrorIs(t, err, fs.ErrNotExist)

	require.NoError(t, src.Set("a", []byte("1"), 0))
	require.NoError(t, src.SaveFile(path))
	require.NoError(t, src.Set("b", []byte("2"), 0))
	require.NoError(t, src.SaveFile(path)) // replaces the first
	require.NoError(t, dst.LoadFile(path))
	require.Equal(t, contents(src), contents(dst))

	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, files, 1, "temporary files left behind")

	// A directory that does not exist: an error, and nothing written.
	require.Error(t, src.SaveFile(filepath.Join(dir, "no", "such.snap")))
	files, _ = os.ReadDir(dir)
	require.Len(t, files, 1)
}

// fuzzSource returns the entries of a small cache and snapshots of it to
// seed FuzzLoadFrom with. They are kept small: the fuzzer's minimizing of
// new inputs takes time quadratic in their size.
func fuzzSource(f *testing.F) (map[string]string, [][]byte) {
	src, err := newTestCache(Options{SegmentBytes: 64 << 10}, clock.NewManual(1e9))
	require.NoError(f, err)
	defer src.Close()
	var seeds [][]byte
	var buf bytes.Buffer
	require.NoError(f, src.SaveTo(&buf))
	seeds = append(seeds, bytes.Clone(buf.Bytes())) // empty
	require.NoError(f, src.Set("", []byte("empty key"), 0))
	require.NoError(f, src.Set("empty value", nil, time.Hour))
	require.NoError(f, src.Set("big", bytes.Repeat([]byte("big"), 50), 0))
	for i := range 4 {
		require.NoError(f, src.Set(fmt.Sprint("k", i), []byte(strings.Repeat("v", i)), time.Duration(i+1)*time.Hour))
	}
	buf.Reset()
	require.NoError(f, src.SaveTo(&buf))
	full := buf.Bytes()
	seeds = append(seeds, full, full[:len(full)/2])
	return contents(src), seeds
}

// FuzzLoadFrom checks that no input makes LoadFrom panic or fail with an
// unexplained error, and that whatever it loads is an entry of the source
// that all the seeds come from, with its exact value: a mutation that
// damages a record must never get it loaded. (After changing fuzzSource,
// remove this target's corpus in the fuzz cache: inputs grown from the
// old seeds name entries the new source lacks.)
func FuzzLoadFrom(f *testing.F) {
	want, seeds := fuzzSource(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Segments smaller than the "big" entry, to take the skipping path.
		dst, err := newTestCache(Options{MaxBytes: 64 << 10, SegmentBytes: 128, Shards: 1}, clock.NewManual(1e9))
		require.NoError(t, err)
		defer dst.Close()
		err = dst.LoadFrom(bytes.NewReader(data))
		if err != nil && !errors.Is(err, ErrSnapshotCorrupt) && !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error: %v", err)
		}
		for k, v := range dst.All() {
			if w, ok := want[k]; !ok || w != string(v) {
				t.Fatalf("loaded %q = %q, not in the source", k, v)
			}
		}
	})
}

// BenchmarkSnapshot measures SaveTo and LoadFrom on 100k entries with
// 64-byte values; MB/s is of snapshot bytes.
func BenchmarkSnapshot(b *testing.B) {
	const entries = 100_000
	opts := Options{MaxBytes: 64 << 20}
	c, err := New(opts)
	require.NoError(b, err)
	defer c.Close()
	value := bytes.Repeat([]byte("v"), 64)
	for i := range entries {
		require.NoError(b, c.Set(fmt.Sprintf("key:%08d", i), value, time.Hour))
	}
	require.Equal(b, entries, c.Len())
	data := save(b, c)

	b.Run("SaveTo", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var buf bytes.Buffer
		buf.Grow(len(data))
		for range b.N {
			buf.Reset()
			if err := c.SaveTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("LoadFrom", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			b.StopTimer()
			dst, err := New(opts)
			require.NoError(b, err)
			b.StartTimer()
			if err := dst.LoadFrom(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			require.Equal(b, entries, dst.Len())
			dst.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

func TestSaveAfterCloseKeepsTheOldFile(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	require.NoError(t, c.Set("k", []byte("v"), 0))
	path := filepath.Join(t.TempDir(), "cache.snap")
	require.NoError(t, c.SaveFile(path))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	require.NoError(t, c.Close())
	require.ErrorIs(t, c.SaveFile(path), ErrClosed)
	require.ErrorIs(t, c.SaveTo(io.Discard), ErrClosed)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "a failed save must leave the old snapshot")
}
