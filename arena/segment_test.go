package arena

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAppendAndRead(t *testing.T) {
	s := NewSegment(256, 7)
	require.Equal(t, uint32(7), s.Gen())
	require.Equal(t, 256, s.Size())

	off1, ok := s.Append("alpha", []byte("one"), 42, 0)
	require.True(t, ok)
	require.Equal(t, 0, off1)
	off2, ok := s.Append("", nil, Never, 0) // the empty key and value are data
	require.True(t, ok)
	require.Equal(t, EntrySize(5, 3), off2)
	off3, ok := s.Append("k", []byte{}, -1, 0)
	require.True(t, ok)

	exp, k, v := s.Entry(off1)
	require.Equal(t, int64(42), exp)
	require.Equal(t, "alpha", string(k))
	require.Equal(t, "one", string(v))
	exp, k, v = s.Entry(off2)
	require.Equal(t, int64(Never), exp)
	require.Empty(t, k)
	require.Empty(t, v)
	exp, _, _ = s.Entry(off3)
	require.Equal(t, int64(-1), exp)

	require.Equal(t, off2, s.Next(off1))
	require.Equal(t, off3, s.Next(off2))
	require.Equal(t, s.Used(), s.Next(off3))
	require.Equal(t, 256-s.Used(), s.Free())

	// Capped slices: appending to a returned value cannot scribble on the
	// next entry.
	_, _, v = s.Entry(off1)
	require.Equal(t, len(v), cap(v))
}

func TestAppendFull(t *testing.T) {
	s := NewSegment(64, 0)
	_, ok := s.Append("k", make([]byte, 64-HeaderSize), 0, 0)
	require.False(t, ok, "one byte too many")
	used := s.Used()
	_, ok = s.Append("k", make([]byte, 64-HeaderSize-1), 0, 0)
	require.True(t, ok, "exactly full")
	require.Equal(t, 0, used)
	require.Equal(t, 0, s.Free())
	_, ok = s.Append("", nil, 0, 0)
	require.False(t, ok)
}

func TestAppendKeyTooLong(t *testing.T) {
	s := NewSegment(1<<24, 0)
	_, ok := s.Append(strings.Repeat("k", MaxKeyLen+1), nil, 0, 0)
	require.False(t, ok)
	require.Equal(t, 0, s.Used())
	off, ok := s.Append(strings.Repeat("k", MaxKeyLen), nil, 0, 0)
	require.True(t, ok)
	_, k, _ := s.Entry(off)
	require.Len(t, k, MaxKeyLen)
}

func TestNewSegmentBadSize(t *testing.T) {
	require.Panics(t, func() { NewSegment(0, 0) })
	tooBig := MaxSegmentBytes
	tooBig++ // where int has 32 bits, this wraps below zero: bad too
	require.Panics(t, func() { NewSegment(tooBig, 0) })
}

func TestFreq(t *testing.T) {
	s := NewSegment(4096, 0)
	var offs []int
	for i := 0; i < 100; i++ {
		off, ok := s.Append("", nil, 0, time.Hour) // smallest entries: one per block
		require.True(t, ok)
		offs = append(offs, off)
	}
	limit := func(i int) int { return 1 + i%MaxFreq } // every limit, 1 to MaxFreq
	for i, off := range offs {
		for range i % 6 {
			s.Touch(off, limit(i))
		}
	}
	for i, off := range offs {
		require.Equal(t, min(i%6, limit(i)), s.Freq(off), "entry %d", i)
		require.Equal(t, i%6 != 0, s.Hot(off), "entry %d", i)
		checkTTL(t, time.Hour, s.TTL(off)) // counting never spills into the TTL
		_, k, _ := s.Entry(off)
		require.Empty(t, k)
	}
	s.SetFreq(offs[3], 2)
	s.SetFreq(offs[1], 0)
	require.Equal(t, 2, s.Freq(offs[3]))
	require.False(t, s.Hot(offs[1]))
	require.Equal(t, 2, s.Freq(offs[2]))
	checkTTL(t, time.Hour, s.TTL(offs[3]))
}

// FuzzEntries appends entries made from the fuzzer's bytes and checks that
// every one reads back intact, in order, after all the appends.
func FuzzEntries(f *testing.F) {
	f.Add([]byte("hello world"), uint16(5), int64(1))
	f.Add([]byte{}, uint16(0), int64(Never))
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint16(17), int64(-5))
	f.Fuzz(func(t *testing.T, data []byte, split uint16, exp int64) {
		s := NewSegment(1024, 1)
		type rec struct {
			off        int
			key, value string
			exp        int64
			ttl        time.Duration
		}
		var recs []rec
		for i := 0; len(data) > 0; i++ {
			n := int(split)%(len(data)+1) + 1
			if n > len(data) {
				n = len(data)
			}
			chunk := data[:n]
			data = data[n:]
			k := len(chunk) / 2
			key, value := string(chunk[:k]), chunk[k:]
			ttl := time.Duration(exp) >> (i % 64)
			off, ok := s.Append(key, value, exp+int64(i), ttl)
			if !ok {
				require.Greater(t, EntrySize(len(key), len(value)), s.Free())
				break
			}
			if i%2 == 0 {
				s.Touch(off, MaxFreq) // the frequency shares the word with the TTL
			}
			recs = append(recs, rec{off, key, string(value), exp + int64(i), ttl})
		}
		off := 0
		for _, r := range recs {
			require.Equal(t, r.off, off)
			e, k, v := s.Entry(r.off)
			require.Equal(t, r.exp, e)
			require.Equal(t, r.key, string(k))
			require.Equal(t, r.value, string(v))
			checkTTL(t, r.ttl, s.TTL(r.off))
			off = s.Next(off)
		}
		require.Equal(t, s.Used(), off)
	})
}

// checkTTL checks that got is want rounded down by at most 0.4%, and 0 for
// a TTL of 0 or less.
func checkTTL(t *testing.T, want, got time.Duration) {
	t.Helper()
	if want <= 0 {
		require.Zero(t, got)
		return
	}
	require.LessOrEqual(t, got, want)
	require.GreaterOrEqual(t, got, want-want/256-1, "ttl %d decoded as %d", want, got)
}

func TestTTLCode(t *testing.T) {
	s := NewSegment(1<<16, 1)
	for _, d := range []time.Duration{0, -time.Second, 1, 2, 3, 255, 256, 257, 511, 512, 1023, 1024, 1025,
		time.Millisecond, time.Second, 90 * time.Minute, 24 * time.Hour, 1<<62 + 12345, math.MaxInt64} {
		off, ok := s.Append("k", []byte("v"), Never, d)
		require.True(t, ok)
		checkTTL(t, d, s.TTL(off))
		s.Touch(off, MaxFreq)
		checkTTL(t, d, s.TTL(off))
		require.True(t, s.Hot(off))
		s.SetFreq(off, 0)
		checkTTL(t, d, s.TTL(off))
		_, k, v := s.Entry(off)
		require.Equal(t, "k", string(k))
		require.Equal(t, "v", string(v))
	}
}

// TestMarks marks entries of mixed sizes dead, the smallest included (two
// entries may share a 16-byte stretch of the segment, never a mark), in a
// segment that takes several words of marks, and finds them by a walk;
// Recycle clears the marks.
func TestMarks(t *testing.T) {
	s := NewSegment(1<<14, 1)
	var offs, dead []int
	for i := 0; ; i++ {
		off, ok := s.Append(strings.Repeat("k", i%3), make([]byte, (i*37)%200), Never, 0)
		if !ok {
			break
		}
		offs = append(offs, off)
	}
	walk := func() []int {
		var got []int
		for off := 0; off < s.Used(); off = s.Next(off) {
			if s.Dead(off) {
				got = append(got, off)
			}
		}
		return got
	}
	require.Empty(t, walk(), "an append leaves the entry unmarked")
	for i, off := range offs {
		if i%5 == 0 || i%7 == 3 || i == len(offs)-1 {
			s.MarkDead(off)
			dead = append(dead, off)
		}
	}
	require.Equal(t, dead, walk())
	for _, off := range offs {
		require.Equal(t, slices.Contains(dead, off), s.Dead(off))
	}
	s.Recycle(2)
	_, ok := s.Append("a", []byte("b"), Never, 0)
	require.True(t, ok)
	require.False(t, s.Dead(0), "Recycle clears the marks")
}

// TestFind checks Find against Entry and Absent: the entry's own key
// matches, keys of the same or another length do not, and an absence is
// reported as one.
func TestFind(t *testing.T) {
	s := NewSegment(1024, 1)
	a, _ := s.Append("alpha", []byte("one"), 42, 0)
	e, _ := s.Append("", nil, Never, 0)
	n, _ := s.Append("gone", nil, 7, 0)
	s.MarkAbsent(n)

	exp, v, absent, ok := s.Find(a, "alpha")
	require.True(t, ok)
	require.Equal(t, int64(42), exp)
	require.Equal(t, "one", string(v))
	require.Equal(t, len(v), cap(v), "capped, as Entry's value")
	require.False(t, absent)
	for _, other := range []string{"alphb", "alph", "alphaa", ""} {
		_, _, _, ok = s.Find(a, other)
		require.False(t, ok, other)
	}
	exp, v, absent, ok = s.Find(e, "")
	require.True(t, ok)
	require.Equal(t, int64(Never), exp)
	require.Empty(t, v)
	require.False(t, absent)
	_, _, absent, ok = s.Find(n, "gone")
	require.True(t, ok)
	require.True(t, absent)
}

// TestValue: Value finds what Find finds for a live value, and nothing
// for another key, an entry expired at now, or an absence.
func TestValue(t *testing.T) {
	s := NewSegment(1024, 1)
	a, _ := s.Append("alpha", []byte("one"), 42, 0)
	e, _ := s.Append("", nil, Never, 0)
	n, _ := s.Append("gone", nil, Never, 0)
	s.MarkAbsent(n)

	v, ok := s.Value(a, "alpha", 41)
	require.True(t, ok)
	require.Equal(t, "one", string(v))
	require.Equal(t, len(v), cap(v), "capped, as Entry's value")
	_, ok = s.Value(a, "alpha", 42)
	require.False(t, ok, "expired at its expiry")
	for _, other := range []string{"alphb", "alph", "alphaa", ""} {
		_, ok = s.Value(a, other, 0)
		require.False(t, ok, other)
	}
	v, ok = s.Value(e, "", 0)
	require.True(t, ok)
	require.Empty(t, v)
	_, ok = s.Value(n, "gone", 0)
	require.False(t, ok, "an absence has no value")
}

// TestPrefault: a prefaulted segment, of any size, whether its data starts
// on a page boundary or not, is still all zero and takes entries as a
// fresh one does.
func TestPrefault(t *testing.T) {
	for _, size := range []int{4096, 10_000, 48 << 10, 1 << 20, 4 << 20} {
		s := NewSegment(size, 1)
		s.Prefault()
		require.Equal(t, len(s.data), bytes.Count(s.data, []byte{0}), "size %d: prefaulted data is not all zero", size)
		off, ok := s.Append("key", []byte("value"), Never, 0)
		require.True(t, ok)
		_, v, _, found := s.Find(off, "key")
		require.True(t, found)
		require.Equal(t, "value", string(v))
	}
}

// LargeSegmentBytes says what the allocator gives: the capacity append
// gets for a byte slice of that size, in every size class and in pages
// above them.
func TestLargeSegmentBytes(t *testing.T) {
	sizes := []int{1, 7, 8, 9, 500, 1000, 4095, 4096, 4097, 32<<10 - 1, 32 << 10, 32<<10 + 1, 40 << 10, 204824, 1<<20 + 1, 16 << 20}
	for size := 1; size <= 64<<10; size += 97 {
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		want := cap(slices.Grow([]byte(nil), size))
		require.Equal(t, want, LargeSegmentBytes(size), "size %d", size)
		require.Equal(t, want, NewLargeSegment(size, 1).Size(), "size %d", size)
	}
	require.Equal(t, MaxSegmentBytes, LargeSegmentBytes(MaxSegmentBytes), "no more than a segment may hold")
}
