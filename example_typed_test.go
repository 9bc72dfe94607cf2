package velo_test

import (
	"fmt"
	"math"
	"time"

	"github.com/velocache/velo"
)

// Typed caches structs without marshaling at each call site. A miss is
// (zero, false, nil); an error means the stored bytes did not decode.
func ExampleTyped() {
	type Profile struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	c, err := velo.New(velo.Options{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	profiles := velo.NewTyped(c, velo.JSON[Profile]())

	_ = profiles.Set("profile:42", Profile{Name: "Ada", Roles: []string{"admin"}}, time.Minute)

	p, ok, err := profiles.Get("profile:42")
	fmt.Println(p.Name, p.Roles, ok, err)
	_, ok, err = profiles.Get("profile:43")
	fmt.Println(ok, err)
	// Output:
	// Ada [admin] true <nil>
	// false <nil>
}

// Binary stores fixed-size structs in encoding/binary's layout: 20 bytes
// here against 41 as JSON, and no allocation to read or write.
func ExampleBinary() {
	type Position struct {
		Lat, Lon float64
		Speed    float32
	}
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	positions := velo.NewTyped(c, velo.Binary[Position]())

	_ = positions.Set("truck:7", Position{Lat: 48.8566, Lon: 2.3522, Speed: 13.5}, 0)
	p, _, _ := positions.Get("truck:7")
	raw, _ := c.Get("truck:7")
	fmt.Printf("%+v in %d bytes\n", p, len(raw))
	// Output:
	// {Lat:48.8566 Lon:2.3522 Speed:13.5} in 20 bytes
}

// timeCodec is a user-written Codec: time.Time in its own binary form.
type timeCodec struct{}

func (timeCodec) Append(dst []byte, t time.Time) ([]byte, error) { return t.AppendBinary(dst) }

func (timeCodec) Decode(data []byte) (time.Time, error) {
	var t time.Time
	err := t.UnmarshalBinary(data) // copies what it needs from data
	return t, err
}

// Any type with Append and Decode methods is a Codec.
func ExampleCodec() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	lastSeen := velo.NewTyped[time.Time](c, timeCodec{})

	_ = lastSeen.Set("user:42", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), 0)
	t, ok, err := lastSeen.Get("user:42")
	fmt.Println(t, ok, err)
	// Output:
	// 2024-05-01 12:00:00 +0000 UTC true <nil>
}

// A value the codec cannot encode is an error that names the key, and the
// entry keeps its previous value. Bytes that do not decode are an error
// from Get, which also reports a miss so that the caller recomputes.
func ExampleTyped_Set_errors() {
	c, _ := velo.New(velo.Options{})
	defer c.Close()
	ratios := velo.NewTyped(c, velo.JSON[float64]())

	_ = ratios.Set("ratio", 0.5, 0)
	err := ratios.Set("ratio", math.Inf(1), 0) // JSON has no infinity
	fmt.Println(err)
	r, _, _ := ratios.Get("ratio")
	fmt.Println(r)

	_ = c.Set("ratio", []byte("garbage"), 0) // written raw, past the codec
	_, ok, err := ratios.Get("ratio")
	fmt.Println(ok, err)
	// Output:
	// velo: encoding the value for key "ratio": json: unsupported value: +Inf
	// 0.5
	// false velo: decoding the value for key "ratio": invalid character 'g' looking for beginning of value
}
