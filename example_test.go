package velo_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/velocache/velo"
)

func Example() {
	c, err := velo.New(velo.Options{MaxBytes: 64 << 20, DefaultTTL: 10 * time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	_ = c.Set("user:42", []byte(`{"name":"Ada"}`), 0) // DefaultTTL
	_ = c.Set("session:9f2c", []byte("token"), 30*time.Second)

	if v, ok := c.Get("user:42"); ok {
		fmt.Println(string(v))
	}
	_, ok := c.Get("user:43")
	fmt.Println("user:43 found:", ok)
	// Output:
	// {"name":"Ada"}
	// user:43 found: false
}

// AppendValue reuses the caller's buffer: no allocation on a hit when the
// buffer has room.
func ExampleCache_AppendValue() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	_ = c.Set("greeting", []byte("hello"), 0)

	buf := make([]byte, 0, 1024)
	for i := 0; i < 3; i++ {
		var ok bool
		buf, ok = c.AppendValue(buf[:0], "greeting")
		fmt.Println(string(buf), ok)
	}
	// Output:
	// hello true
	// hello true
	// hello true
}

func ExampleCache_Set_errors() {
	c, _ := velo.New(velo.Options{MaxValueBytes: 4096, MaxBytes: 1 << 20})
	_ = c.Set("k", []byte("v1"), 0)

	err := c.Set("k", make([]byte, 8192), 0)
	fmt.Println(errors.Is(err, velo.ErrTooLarge))
	err = c.Set("k", []byte("v2"), -time.Second)
	fmt.Println(errors.Is(err, velo.ErrInvalidTTL))
	v, _ := c.Get("k") // rejected Sets left the old value
	fmt.Println(string(v))

	c.Close()
	fmt.Println(errors.Is(c.Set("k", nil, 0), velo.ErrClosed))
	// Output:
	// true
	// true
	// v1
	// true
}

func ExampleCache_Stats() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	_ = c.Set("a", []byte("1"), 0)
	c.Get("a")
	c.Get("b")
	s := c.Stats()
	fmt.Printf("hits=%d misses=%d ratio=%.2f entries=%d\n", s.Hits, s.Misses, s.HitRatio(), s.Entries)
	// Output:
	// hits=1 misses=1 ratio=0.50 entries=1
}
