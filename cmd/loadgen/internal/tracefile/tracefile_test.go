package tracefile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/tracetest"
)

func be32(vs ...int32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

func be64(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// oracleRecords encodes libCacheSim oracleGeneral records.
func oracleRecords(ids []uint64, sizes []uint32) []byte {
	var b []byte
	for i := range ids {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))      // timestamp
		b = binary.LittleEndian.AppendUint64(b, ids[i])         // object id
		b = binary.LittleEndian.AppendUint32(b, sizes[i])       // size
		b = binary.LittleEndian.AppendUint64(b, math.MaxUint64) // next access: -1, none
	}
	return b
}

func TestTraceReaders(t *testing.T) {
	oracleIDs := []uint64{7, 1 << 40, 7}
	oracleSizes := []uint32{4096, 512, 4096}
	for _, tc := range []struct {
		format, name string // name: the file name, from which the format is inferred
		data         []byte
		want         []uint64
		sizes        []uint32
	}{
		{"arc", "arc_t.lis", []byte("10 3 0 0\n5 1 0 1\n\n 10 2 0 2 \r\n"), []uint64{10, 11, 12, 5, 10, 11}, nil},
		{"lirs", "lirs_t.trace", []byte("1\n*\n\n 2 \n1\r\n"), []uint64{1, 2, 1}, nil},
		{"cache2k", "cache2k_t.trace", be32(3, -1, 3), []uint64{3, 1<<32 - 1, 3}, nil},
		{"scarab", "scarab-t.trace", be64(1<<40, -2), []uint64{1 << 40, 1<<64 - 2}, nil},
		{"corda", "corda_t.trace", be64(5, 5, 6), []uint64{5, 5, 6}, nil},
		{"cloudphysics", "cloudphysics_t.trace", be32(-1, 9), []uint64{1<<32 - 1, 9}, nil},
		{"oracle", "t.oracleGeneral.bin", oracleRecords(oracleIDs, oracleSizes), oracleIDs, oracleSizes},
	} {
		for _, gz := range []bool{false, true} {
			name := tc.name
			if gz {
				name += ".gz"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				path := tracetest.WriteFile(t, dir, name, tc.data)
				if f, err := InferFormat(path); err != nil || f != tc.format {
					t.Fatalf("InferFormat = %q, %v; want %q", f, err, tc.format)
				}
				td, err := Load(path, "")
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(td.Keys, tc.want) || !slices.Equal(td.Sizes, tc.sizes) {
					t.Errorf("keys %v sizes %v; want %v %v", td.Keys, td.Sizes, tc.want, tc.sizes)
				}
				// An explicit format works whatever the name.
				other := tracetest.WriteFile(t, dir, "trace.bin"+map[bool]string{true: ".gz"}[gz], tc.data)
				td, err = Load(other, tc.format)
				if err != nil || !slices.Equal(td.Keys, tc.want) {
					t.Errorf("with -format %s: %v, %v", tc.format, td, err)
				}
			})
		}
	}
}

func TestTraceReaderErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, format string
		data         []byte
		want         string
	}{
		{"cache2k_t.trace", "", be32(1)[:3], "truncated"},
		{"corda_t.trace.gz", "", append(be64(1), 0), "truncated"},
		{"x.oracleGeneral.bin", "", make([]byte, 25), "truncated"},
		{"arc_t.lis", "", []byte("1 2 0 0\n12\n"), "line 2"},
		{"arc_t2.lis", "", []byte("1 x 0 0\n"), "block count"},
		{"lirs_t.trace", "", []byte("1\nabc\n"), `line 2: "abc"`},
		{"trace.bin", "", []byte("1\n"), "give -format"},
		{"trace2.txt", "lirs2", []byte("1\n"), "unknown trace format"},
		// Gzipped files cut short (below): in the header, in the stream.
		{"lirs_gz.trace.gz", "", []byte("1\n"), "gzip header"},
		{"cache2k_gz.trace.gz", "", be32(make([]int32, 1000)...), "unexpected EOF"},
		{"lirs_gz2.trace.gz", "", bytes.Repeat([]byte("12345\n"), 1000), "unexpected EOF"},
	} {
		path := tracetest.WriteFile(t, dir, tc.name, tc.data)
		if strings.HasSuffix(tc.name, "_gz.trace.gz") || strings.HasSuffix(tc.name, "_gz2.trace.gz") {
			b, _ := os.ReadFile(path)
			cut := len(b) - 10 // in the stream: before the gzip trailer's checksum
			if tc.want == "gzip header" {
				cut = 5
			}
			if err := os.WriteFile(path, b[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(path, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "arc_missing.lis"), ""); err == nil {
		t.Error("missing file: no error")
	}
}

// TestInferTraceFormatShared checks the inference on every file name of
// the shared traces folder (the names are listed, not read).
func TestInferTraceFormatShared(t *testing.T) {
	for name, want := range map[string]string{
		"arc_OLTP.lis.gz": "arc", "arc_P2.lis.gz": "arc", "arc_P3.lis.gz": "arc", "arc_P6.lis.gz": "arc",
		"lirs_loop.trace.gz": "lirs", "lirs_gli.trace.gz": "lirs", "lirs_2_pools.trace.gz": "lirs",
		"cache2k_orm-busy.trace.gz": "cache2k", "cache2k_web07.trace.gz": "cache2k",
		"scarab-recs.trace.gz": "scarab", "corda_vaultservice.trace.gz": "corda",
		"cloudphysics_w106.trace.gz":                      "cloudphysics",
		"libcachesim_cloudPhysicsIO.oracleGeneral.bin.gz": "oracle",
		// A plain log's extension wins over a prefix the formats use.
		"corda_access.csv": "plain", "arc_requests.log.gz": "plain", "lirs_keys.txt": "plain",
	} {
		if got, err := InferFormat("/some/dir/" + name); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
}

// seqKeys turns "a b c" into keys.
