package velo_test

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

// A test of code that caches with a TTL moves a manual clock instead of
// sleeping.
func ExampleOptions_clock() {
	clk := clock.NewManual(0)
	c, _ := velo.New(velo.Options{Clock: clk})
	defer c.Close()
	_ = c.Set("session", []byte("alice"), time.Minute)

	clk.Advance(59 * time.Second)
	ttl, _ := c.TTL("session")
	fmt.Println(ttl)
	clk.Advance(time.Second)
	_, ok := c.Get("session")
	fmt.Println(ok)
	// Output:
	// 1s
	// false
}

// OnRemove hears of every entry that leaves, with the reason.
func ExampleOptions_onRemove() {
	c, _ := velo.New(velo.Options{
		MaxEntries: 2,
		Shards:     1,
		OnRemove: func(key string, value []byte, reason velo.Reason) {
			fmt.Printf("%s=%s %v\n", key, value, reason)
		},
	})
	defer c.Close()
	_ = c.Set("a", []byte("1"), 0)
	_ = c.Set("a", []byte("2"), 0)
	c.Delete("a")
	_ = c.Set("b", []byte("3"), 0)
	_ = c.Set("c", []byte("4"), 0)
	// Over MaxEntries: b took the main queue's free place, and c, seen no
	// more often than b, does not displace it.
	_ = c.Set("d", []byte("5"), 0)
	// Output:
	// a=1 replaced
	// a=2 deleted
	// c=4 evicted
}

// All and Keys iterate without holding a lock while the loop body runs.
func ExampleCache_All() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	_ = c.Set("x", []byte("1"), 0)
	_ = c.Set("y", []byte("2"), 0)

	for _, k := range slices.Sorted(c.Keys()) {
		fmt.Println(k)
	}
	n := 0
	for _, v := range c.All() {
		n += len(v)
	}
	fmt.Println(n, "value bytes")
	// Output:
	// x
	// y
	// 2 value bytes
}

func ExampleCache_TTL() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	_ = c.Set("session", []byte("token"), time.Hour)
	_ = c.Set("config", []byte("{}"), 0)

	ttl, ok := c.TTL("session")
	fmt.Println(ok, ttl > 59*time.Minute && ttl <= time.Hour)
	ttl, ok = c.TTL("config")
	fmt.Println(ok, ttl) // 0: does not expire
	_, ok = c.TTL("missing")
	fmt.Println(ok)
	// Output:
	// true true
	// true 0s
	// false
}

func ExampleCache_Clear() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	for i := range 1000 {
		_ = c.Set(fmt.Sprint(i), []byte("v"), 0)
	}
	c.Clear()
	fmt.Println(c.Len())
	// Output:
	// 0
}

// View hands the value to a function without copying it: here, straight to
// a writer, as an HTTP handler would write it to its ResponseWriter.
func ExampleCache_View() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	_ = c.Set("page:/", []byte("<h1>hello</h1>\n"), time.Minute)

	found := c.View("page:/", func(v []byte) {
		os.Stdout.Write(v) // read it, don't keep or modify it
	})
	fmt.Println(found)
	// Output:
	// <h1>hello</h1>
	// true
}
