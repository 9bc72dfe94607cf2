package velo_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/velocache/velo"
)

// A warm restart: save the cache on shutdown, load it on start. Entries
// come back with the lifetime they had left, less the time in between.
func ExampleCache_SaveFile() {
	dir, _ := os.MkdirTemp("", "velo-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "cache.snap")

	c, _ := velo.New(velo.Options{})
	_ = c.Set("user:42", []byte(`{"name":"Ada"}`), time.Hour)
	if err := c.SaveFile(path); err != nil {
		fmt.Println("save:", err)
	}
	c.Close()

	// The next process:
	c, _ = velo.New(velo.Options{})
	defer c.Close()
	switch err := c.LoadFile(path); {
	case errors.Is(err, fs.ErrNotExist):
		// First start: nothing to load.
	case err != nil:
		// Damaged or too-large entries: what could be loaded was.
		fmt.Println("load:", err)
	}
	v, _ := c.Get("user:42")
	ttl, _ := c.TTL("user:42")
	fmt.Println(string(v), ttl > 59*time.Minute)
	// Output:
	// {"name":"Ada"} true
}

// Loading from a source that might never end, such as a connection to a
// peer: LoadFrom reads until the snapshot's end record, so io.LimitReader
// bounds what it reads. At the limit the load fails as a truncated
// snapshot does, and the entries read before it stay loaded.
func ExampleCache_LoadFrom() {
	// The peer's snapshot: 1000 entries of 135 bytes each.
	peer, _ := velo.New(velo.Options{})
	defer peer.Close()
	for i := range 1000 {
		_ = peer.Set(fmt.Sprintf("key:%04d", i), bytes.Repeat([]byte("v"), 100), 0)
	}
	var conn bytes.Buffer // stands for the connection
	_ = peer.SaveTo(&conn)

	c, _ := velo.New(velo.Options{})
	defer c.Close()
	// What io.LimitReader(&conn, 64<<10) returns; its N tells a snapshot
	// over the limit from one cut short.
	src := &io.LimitedReader{R: &conn, N: 64 << 10}
	switch err := c.LoadFrom(src); {
	case src.N == 0 && errors.Is(err, io.ErrUnexpectedEOF):
		fmt.Println("snapshot over the limit; entries loaded:", c.Len())
	case err != nil:
		fmt.Println("load:", err)
	}
	// Output:
	// snapshot over the limit; entries loaded: 485
}
