// Package tracefile reads the access traces that -trace replays. Each format is a
// stream of accesses; a reader turns it into a slice of uint64 keys, one per
// access, in order. The shared traces folder's README.md (../shared/traces from the
// repository root) describes the recorded formats and where the files come from.
//
// The plain format is for a service's own access log: one request per
// line, the key first, then optionally the object's size in bytes and a
// timestamp (ignored), separated by commas or white space. Keys are any
// strings without those separators; each distinct key gets an id in the
// order it first appears. Blank lines and lines starting with # are
// skipped, and so is a first line whose size field is not a number (a CSV
// header). Files ending in .gz are gunzipped and in .zst decompressed
// with zstd, whatever the format.
package tracefile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Formats are the names -format accepts, in the order -h lists them.
var Formats = []string{"plain", "arc", "lirs", "cache2k", "scarab", "corda", "cloudphysics", "oracle"}

// Data is a whole trace in memory: Keys[i] is the key of access i.
// The largest trace here has about 13M accesses (100 MB of keys).
type Data struct {
	Keys []uint64
	// Sizes[i] is the object size in bytes of access i, for the formats
	// that carry one (oracle, plain with sizes); nil otherwise.
	Sizes []uint32
	// Names[k] is the string of key k, for the plain format, whose keys
	// are strings numbered in order of first appearance; nil otherwise.
	Names []string
}

// InferFormat tells a trace's format from its file name, as the files
// in the shared traces folder are named.
func InferFormat(path string) (string, error) {
	base := filepath.Base(path)
	// A plain log's extension says so whatever the name: an access log
	// may well be called corda_access.csv.
	switch filepath.Ext(strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".zst")) {
	case ".csv", ".txt", ".log":
		return "plain", nil
	}
	switch {
	case strings.HasPrefix(base, "arc_"):
		return "arc", nil
	case strings.HasPrefix(base, "lirs_"):
		return "lirs", nil
	case strings.HasPrefix(base, "cache2k_"):
		return "cache2k", nil
	case strings.HasPrefix(base, "scarab"):
		return "scarab", nil
	case strings.HasPrefix(base, "corda"):
		return "corda", nil
	case strings.HasPrefix(base, "cloudphysics"):
		return "cloudphysics", nil
	case strings.Contains(base, "oracleGeneral"):
		return "oracle", nil
	}
	return "", fmt.Errorf("-trace %s: cannot tell the format from the file name; give -format (%s)",
		path, strings.Join(Formats, ", "))
}

// Load reads the whole trace at path in the given format (inferred
// from the name when format is empty). A name ending in .gz is gunzipped,
// one ending in .zst decompressed with zstd.
func Load(path, format string) (*Data, error) {
	if format == "" {
		var err error
		if format, err = InferFormat(path); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: reading the gzip header: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	if strings.HasSuffix(path, ".zst") {
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: reading the zstd header: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	td, err := read(bufio.NewReaderSize(r, 1<<20), format)
	if err != nil {
		return nil, fmt.Errorf("%s (%s format): %w", path, format, err)
	}
	return td, nil
}

// read reads a trace of the given format from r, to its end.
func read(r io.Reader, format string) (*Data, error) {
	td := &Data{}
	var err error
	switch format {
	case "plain":
		err = readPlain(r, td)
	case "arc":
		err = readArc(r, td)
	case "lirs":
		err = readLirs(r, td)
	case "cache2k":
		err = readRecords(r, 4, func(b []byte) { td.Keys = append(td.Keys, uint64(binary.BigEndian.Uint32(b))) })
	case "scarab", "corda":
		err = readRecords(r, 8, func(b []byte) { td.Keys = append(td.Keys, binary.BigEndian.Uint64(b)) })
	case "cloudphysics":
		err = readRecords(r, 4, func(b []byte) { td.Keys = append(td.Keys, uint64(binary.BigEndian.Uint32(b))) })
	case "oracle":
		err = readRecords(r, 24, func(b []byte) {
			// uint32 timestamp, uint64 id, uint32 size, int64 next access.
			td.Keys = append(td.Keys, binary.LittleEndian.Uint64(b[4:12]))
			td.Sizes = append(td.Sizes, binary.LittleEndian.Uint32(b[12:16]))
		})
	default:
		return nil, fmt.Errorf("unknown trace format %q (known: %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return nil, err
	}
	return td, nil
}

// readRecords calls fn with each fixed-size record of r. A trailing partial
// record is an error, and so is any read error but a clean end of the
// stream (a cut gzip stream ends with io.ErrUnexpectedEOF).
func readRecords(r io.Reader, size int, fn func([]byte)) error {
	buf := make([]byte, size*(64<<10/size))
	for {
		n, err := fillBuf(r, buf)
		for i := 0; i+size <= n; i += size {
			fn(buf[i : i+size])
		}
		switch {
		case err == io.EOF && n%size != 0:
			return fmt.Errorf("truncated: %d bytes after the last whole %d-byte record", n%size, size)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// fillBuf reads into buf until it is full or r fails, and returns how much
// it read and r's error (io.EOF at the end of the stream).
func fillBuf(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// eachLine calls fn with every line of r, without its line ending and
// surrounding blanks, and with its 1-based number.
func eachLine(r io.Reader, fn func(line []byte, n int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if err := fn(bytes.TrimSpace(sc.Bytes()), n); err != nil {
			return err
		}
	}
	return sc.Err()
}

// readArc reads the ARC format: lines "start count ignore id", each one
// standing for count accesses to the blocks start, start+1, ...
func readArc(r io.Reader, td *Data) error {
	return eachLine(r, func(line []byte, n int) error {
		if len(line) == 0 {
			return nil
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("line %d: %q: want start count ignore id", n, line)
		}
		start, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: start block %q: %v", n, f[0], err)
		}
		count, err := strconv.ParseUint(string(f[1]), 10, 32)
		if err != nil {
			return fmt.Errorf("line %d: block count %q: %v", n, f[1], err)
		}
		for i := range count {
			td.Keys = append(td.Keys, start+i)
		}
		return nil
	})
}

// readPlain reads the plain format (see the file comment).
func readPlain(r io.Reader, td *Data) error {
	ids := make(map[string]uint64)
	sized := 0 // lines with a size
	err := eachLine(r, func(line []byte, n int) error {
		if len(line) == 0 || line[0] == '#' {
			return nil
		}
		fields := bytes.FieldsFunc(line, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' })
		if len(fields) == 0 {
			return nil
		}
		var size uint64
		if len(fields) > 1 {
			var err error
			if size, err = strconv.ParseUint(string(fields[1]), 10, 32); err != nil {
				if n == 1 {
					return nil // a header
				}
				return fmt.Errorf("line %d: size %q is not a number of bytes", n, fields[1])
			}
			sized++
		}
		id, ok := ids[string(fields[0])]
		if !ok {
			id = uint64(len(ids))
			name := string(fields[0])
			ids[name] = id
			td.Names = append(td.Names, name)
		}
		td.Keys = append(td.Keys, id)
		td.Sizes = append(td.Sizes, uint32(size))
		return nil
	})
	if err != nil {
		return err
	}
	switch sized {
	case len(td.Keys):
	case 0:
		td.Sizes = nil
	default:
		return fmt.Errorf("%d of %d requests have a size: give every line one, or none", sized, len(td.Keys))
	}
	return nil
}

// readLirs reads the LIRS format: one decimal key per line. Lines holding
// only "*" (checkpoint markers) and empty lines are skipped.
func readLirs(r io.Reader, td *Data) error {
	return eachLine(r, func(line []byte, n int) error {
		if len(line) == 0 || string(line) == "*" {
			return nil
		}
		k, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: %q is not an integer key", n, line)
		}
		td.Keys = append(td.Keys, uint64(k))
		return nil
	})
}

// ReadPlain reads a whole trace in the plain format from r.
func ReadPlain(r io.Reader) (*Data, error) { return read(r, "plain") }
