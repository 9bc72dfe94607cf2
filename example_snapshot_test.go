package velo_test

import (
	"errors"
	"fmt"
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
