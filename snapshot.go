package velo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/velocache/velo/arena"
	"github.com/velocache/velo/engine"
)

// Errors returned by LoadFrom and LoadFile, wrapped with where in the
// snapshot the problem is (record number and byte offset).
var (
	// ErrSnapshotCorrupt: the input is not a velo snapshot, or it is
	// truncated (then the error also wraps io.ErrUnexpectedEOF) or damaged:
	// a checksum, length or count does not match.
	ErrSnapshotCorrupt = errors.New("velo: snapshot corrupt")
	// ErrSnapshotVersion: the snapshot has an intact header of a format
	// version this package does not read.
	ErrSnapshotVersion = errors.New("velo: unsupported snapshot version")
)

// The snapshot format; docs/snapshot.md describes it. All integers are
// little-endian; every checksum is CRC-32C of the bytes before it in the
// same header or record.
const (
	snapMagic   = "velosnap"
	snapVersion = 1

	snapHeaderSize = 24 // magic, version, wall-clock save time, CRC
	entryHeadSize  = 23 // kind, key length, value length, remaining, TTL
	endSize        = 13 // kind, entry count, CRC

	kindEntry = 'E'
	kindEnd   = 'Z'

	// No cache accepts a longer value, so no snapshot holds one: a longer
	// length can only be damage.
	maxSnapValue = engine.MaxValueLimit
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wallClock measures the time between a save and a load, which the
// engine's clock cannot: it starts anew in every process. Tests replace it.
var wallClock = time.Now

// SaveTo writes a snapshot of the cache's live entries to w: each key and
// value, the lifetime it has left and the TTL it was stored with (so that
// RefreshAhead goes on working after a load). It returns the first error
// from w; the snapshot is then incomplete, and LoadFrom refuses its end.
//
// SaveTo is as consistent as All: it holds no lock, so the cache goes on
// serving reads and writes, and entries written during the save may or
// may not be in the snapshot. It buffers one entry at a time, not the
// snapshot. On a closed cache, or one closed during the save, it returns
// ErrClosed without writing the end record, so the output never passes for
// a complete snapshot (and SaveFile leaves the file it would replace).
func (c *Cache) SaveTo(w io.Writer) error {
	// A closed cache has no entries: saving it would replace a good
	// snapshot with an empty one.
	if c.e.Closed() {
		return ErrClosed
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	// Remaining lifetimes are measured from now, the engine time that
	// goes with the wall-clock time in the header, so that a load can
	// deduct exactly the time that passed since.
	now := c.e.Now()
	var hdr [snapHeaderSize]byte
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint32(hdr[8:], snapVersion)
	binary.LittleEndian.PutUint64(hdr[12:], uint64(unixNanos(wallClock())))
	binary.LittleEndian.PutUint32(hdr[20:], crc32.Checksum(hdr[:20], castagnoli))
	if _, err := bw.Write(hdr[:]); err != nil {
		return err
	}

	var (
		rec   []byte // the record being written, reused
		count uint64
		err   error
	)
	c.e.Range(func(key string, value []byte, info engine.EntryInfo) bool {
		remaining := int64(0) // never expires
		if info.ExpireAt != arena.Never {
			remaining = info.ExpireAt - now
			// Range reads the clock after now and yields only unexpired
			// entries, so this is positive unless a test's clock went
			// back; 0 would read as "never".
			if remaining <= 0 {
				return true
			}
		}
		rec = append(rec[:0], kindEntry)
		rec = binary.LittleEndian.AppendUint16(rec, uint16(len(key)))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(value)))
		rec = binary.LittleEndian.AppendUint64(rec, uint64(remaining))
		rec = binary.LittleEndian.AppendUint64(rec, uint64(info.TTL))
		rec = append(rec, key...)
		rec = append(rec, value...)
		rec = binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
		if _, err = bw.Write(rec); err != nil {
			return false
		}
		count++
		return true
	})
	if err != nil {
		return err
	}
	if c.e.Closed() {
		return ErrClosed // closed during the walk, which then stopped early
	}

	rec = append(rec[:0], kindEnd)
	rec = binary.LittleEndian.AppendUint64(rec, count)
	rec = binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec, castagnoli))
	if _, err := bw.Write(rec); err != nil {
		return err
	}
	return bw.Flush()
}

// LoadFrom reads a snapshot written by SaveTo and stores its entries, each
// with the lifetime it had left at the save less the time since: the
// wall-clock time from the save to the start of the load, and the cache's
// time from then on, so that a long load adds no life to the entries it
// stores last. Entries that expired meanwhile are skipped; a snapshot saved more
// than 292 years ago (the longest time.Duration) has every entry that
// expires at all expired. If the save time is ahead of the wall clock (the
// clock went back, or the snapshot is from a machine whose clock is ahead)
// nothing is deducted: entries load with the lifetime they had at the
// save, never more. An entry replaces any stored under the same key, with
// a TTL (for RefreshAhead) as it was saved.
//
// Every record is verified before it is stored. LoadFrom stops at the
// first damaged record and returns an error wrapping ErrSnapshotCorrupt
// (and io.ErrUnexpectedEOF if the snapshot is cut short) that gives the
// record number and byte offset; the records before it stay loaded, none
// after. A snapshot of another format version is refused with
// ErrSnapshotVersion before anything is stored. An error from r other than
// io.EOF stops the load too and is returned as it is, the records before
// it loaded.
//
// LoadFrom reads until the snapshot's end record, and then r to its end:
// bytes after the end record are damage too. It sets no bound of its own
// on the snapshot's size, since a snapshot may come from a larger cache,
// so a source that keeps sending valid records (a misbehaving peer, a
// pipe, a file that something keeps appending to) keeps it reading and
// storing, and evicting older entries once the cache is full, for as long
// as it sends. Wrap a source that is not trusted to end in io.LimitReader
// (see the example): a load that reaches the limit fails as a truncated
// snapshot does, wrapping ErrSnapshotCorrupt and io.ErrUnexpectedEOF,
// with the records wholly within the limit loaded. A snapshot's size is
// 37 bytes (header and end record) plus, for each entry, 27 bytes and the
// lengths of its key and value. To bound the time a load takes, give it a
// reader whose Read fails once a deadline passes or a context is done, as
// a net.Conn's does after SetReadDeadline.
//
// Entries with keys or values longer than this cache accepts (see
// MaxValueBytes and MaxEntryBytes) are read through without being held,
// and skipped, and the rest loaded; LoadFrom then returns an error
// wrapping ErrTooLarge that counts them and says which limit they passed. On a closed cache LoadFrom returns ErrClosed before
// reading r, whatever it holds; if the cache is closed during the load, it
// returns ErrClosed too.
//
// Loading is a series of stores: readers never wait for it, and entries
// may evict others, as Sets do, if the snapshot is larger than the cache.
// A value Set while the load runs may be replaced by the snapshot's older
// one, so load before serving writes. LoadFrom holds one record in memory
// at a time, at most MaxEntryBytes.
func (c *Cache) LoadFrom(r io.Reader) error {
	// Checked before reading r: even an empty snapshot is refused, since
	// nothing can be loaded into a closed cache.
	if c.e.Closed() {
		return ErrClosed
	}
	sr := snapReader{r: bufio.NewReaderSize(r, 64<<10)}
	var hdr [snapHeaderSize]byte
	if err := sr.read(hdr[:]); err != nil {
		return err
	}
	if string(hdr[:8]) != snapMagic {
		return sr.corrupt("not a velo snapshot")
	}
	// The header is the same in every version, so its checksum is checked
	// first: a damaged header is damage, not a version to refuse.
	if crc32.Checksum(hdr[:20], castagnoli) != binary.LittleEndian.Uint32(hdr[20:]) {
		return sr.corrupt("header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != snapVersion {
		return fmt.Errorf("%w: version %d, this package reads version %d", ErrSnapshotVersion, v, snapVersion)
	}
	// The downtime is computed with time.Time.Sub, which saturates where a
	// difference of int64 nanoseconds would wrap: a save more than 292
	// years ago (or any savedAt, against a wall clock far enough ahead)
	// gives the longest Duration, which every remaining lifetime ends
	// within. A savedAt ahead of the wall clock deducts nothing.
	// Lifetimes count from this moment, the engine's time when the
	// downtime was measured, and not from when each entry is stored: the
	// time the load itself takes (a large snapshot, a slow source) passes
	// for the entries as it does for the cache, and an entry whose
	// lifetime ends during the load is not stored (Restore).
	savedAt := int64(binary.LittleEndian.Uint64(hdr[12:]))
	downtime := int64(max(wallClock().Sub(time.Unix(0, savedAt)), 0))
	base := c.e.Now()

	var (
		buf      = make([]byte, 0, 256) // the record being read, reused; at most MaxEntryBytes plus framing
		count    uint64                 // entry records read
		tooLarge skipped                // entries skipped for size
		maxValue = c.e.MaxValueBytes()
		maxKey   = c.e.MaxKeyBytes()
	)
	for {
		sr.records++
		sr.start = sr.off
		buf = buf[:1]
		if err := sr.read(buf); err != nil {
			return err
		}
		switch buf[0] {
		case kindEntry:
		case kindEnd:
			buf = buf[:endSize]
			if err := sr.read(buf[1:]); err != nil {
				return err
			}
			if !checksumOK(buf) {
				return sr.corrupt("checksum mismatch")
			}
			if n := binary.LittleEndian.Uint64(buf[1:]); n != count {
				return sr.corrupt(fmt.Sprintf("end record counts %d entries, read %d", n, count))
			}
			if _, err := sr.r.ReadByte(); err != io.EOF {
				if err != nil {
					return err
				}
				return sr.corrupt("data after the end record")
			}
			// Closed during the load: what was stored went with the
			// cache, even if no store failed to tell (a snapshot of
			// expired or too-large entries only).
			if c.e.Closed() {
				return ErrClosed
			}
			return tooLarge.err(maxKey, maxValue)
		default:
			return sr.corrupt(fmt.Sprintf("unknown record kind %#x", buf[0]))
		}

		buf = buf[:entryHeadSize]
		if err := sr.read(buf[1:]); err != nil {
			return err
		}
		klen := int(binary.LittleEndian.Uint16(buf[1:]))
		vlen32 := binary.LittleEndian.Uint32(buf[3:])
		remaining := int64(binary.LittleEndian.Uint64(buf[7:]))
		ttl := time.Duration(binary.LittleEndian.Uint64(buf[15:]))
		// Lengths are checked before anything is allocated for them.
		if vlen32 > maxSnapValue {
			return sr.corrupt(fmt.Sprintf("value length %d is over %d", vlen32, maxSnapValue))
		}
		vlen := int(vlen32)
		count++
		if klen > maxKey || vlen > maxValue {
			// Read it through, to stay in step and to report damage, but
			// without holding it.
			crc := crc32.Update(0, castagnoli, buf)
			if err := sr.skip(&crc, klen+vlen); err != nil {
				return err
			}
			var sum [4]byte
			if err := sr.read(sum[:]); err != nil {
				return err
			}
			if crc != binary.LittleEndian.Uint32(sum[:]) {
				return sr.corrupt("checksum mismatch")
			}
			tooLarge.count(klen > maxKey, vlen > maxValue)
			continue
		}
		n := entryHeadSize + klen + vlen + 4
		if cap(buf) < n {
			buf = append(buf, make([]byte, n-len(buf))...)
		}
		buf = buf[:n]
		if err := sr.read(buf[entryHeadSize:]); err != nil {
			return err
		}
		if !checksumOK(buf) {
			return sr.corrupt("checksum mismatch")
		}
		if remaining < 0 || ttl < 0 {
			return sr.corrupt("negative lifetime")
		}

		expireAt := int64(arena.Never)
		if remaining > 0 {
			if remaining <= downtime {
				continue // expired while the cache was down
			}
			if left := remaining - downtime; left < arena.Never-base {
				expireAt = base + left
			}
		}
		key := string(buf[entryHeadSize : entryHeadSize+klen])
		value := buf[entryHeadSize+klen : n-4]
		if err := c.e.Restore(key, value, expireAt, ttl); err != nil {
			if errors.Is(err, ErrTooLarge) {
				tooLarge.count(false, true) // not expected: sizes were checked above
				continue
			}
			return err
		}
	}
}

// skipped counts the snapshot entries LoadFrom skipped as too large for
// the cache, by what was too long.
type skipped struct{ keys, values int }

func (s *skipped) count(longKey, longValue bool) {
	if longKey {
		s.keys++
	} else if longValue {
		s.values++
	}
}

// err returns nil if no entry was skipped, else an error wrapping
// ErrTooLarge that says how many were, and why.
func (s skipped) err(maxKey, maxValue int) error {
	var why []string
	if s.keys > 0 {
		why = append(why, fmt.Sprintf("%d with keys over this cache's %d-byte limit", s.keys, maxKey))
	}
	if s.values > 0 {
		why = append(why, fmt.Sprintf("%d with values over its %d-byte limit (Options.MaxValueBytes)", s.values, maxValue))
	}
	if why == nil {
		return nil
	}
	return fmt.Errorf("%w: skipped %d snapshot entries, %s; loaded the rest", ErrTooLarge, s.keys+s.values, strings.Join(why, " and "))
}

// unixNanos returns t in Unix nanoseconds, the header's save time. Where
// t.UnixNano would wrap (t before 1678 or after 2262) it saturates at the
// int64 limits instead, so that LoadFrom reads such a time as long ago or
// in the future, as it was, and not as some arbitrary time.
func unixNanos(t time.Time) int64 {
	return int64(t.Sub(time.Unix(0, 0)))
}

// checksumOK reports whether rec ends with the CRC-32C of the bytes before.
func checksumOK(rec []byte) bool {
	n := len(rec) - 4
	return crc32.Checksum(rec[:n], castagnoli) == binary.LittleEndian.Uint32(rec[n:])
}

// snapReader reads a snapshot and knows where it is, for error messages.
type snapReader struct {
	r       *bufio.Reader
	off     int64 // bytes read
	start   int64 // offset of the current record
	records int   // the current record's number, from 1; 0 is the header
}

// read fills p; running out of input there is truncation.
func (s *snapReader) read(p []byte) error {
	n, err := io.ReadFull(s.r, p)
	s.off += int64(n)
	return s.check(err)
}

// skip reads n bytes into the checksum crc without keeping them.
func (s *snapReader) skip(crc *uint32, n int) error {
	for n > 0 {
		// Peek returns fewer bytes than asked for only with the error that
		// cut them short; bufio.Reader returns a reader's error once, so
		// it is returned here, after the bytes before it are counted.
		b, err := s.r.Peek(min(n, s.r.Size()))
		*crc = crc32.Update(*crc, castagnoli, b)
		s.r.Discard(len(b))
		s.off += int64(len(b))
		n -= len(b)
		if err != nil {
			return s.check(err)
		}
	}
	return nil
}

// check returns err, as a truncation if it is the end of the input.
func (s *snapReader) check(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s at byte %d: truncated: %w", ErrSnapshotCorrupt, s.where(), s.start, io.ErrUnexpectedEOF)
	}
	return err
}

func (s *snapReader) where() string {
	if s.records == 0 {
		return "header"
	}
	return fmt.Sprintf("record %d", s.records)
}

func (s *snapReader) corrupt(what string) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrSnapshotCorrupt, s.where(), s.start, what)
}

// SaveFile writes a snapshot (see SaveTo) to path so that a crash or an
// error never leaves a partial one there: it writes a temporary file in
// the same directory, syncs it to disk and renames it over path, so path
// holds the previous file or the complete new one. The temporary file is
// removed on error. The snapshot is readable by its owner only.
func (c *Cache) SaveFile(path string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := c.SaveTo(f); err != nil {
		return err
	}
	// Synced before the rename, or a crash could leave path naming a file
	// whose data never reached the disk.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Syncing the directory makes the rename itself durable. Windows
	// cannot sync a directory, and needs no such step.
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadFile loads the snapshot at path, as LoadFrom. A missing file is an
// error wrapping fs.ErrNotExist, which a first start can ignore. On a
// closed cache it returns ErrClosed without opening path, whether or not
// the file exists.
func (c *Cache) LoadFile(path string) error {
	if c.e.Closed() {
		return ErrClosed
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.LoadFrom(f)
}
