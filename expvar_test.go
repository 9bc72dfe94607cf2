package velo_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/velocache/velo"
)

// decodeExpvar parses what expvar serves for the Var, failing the test if
// it is not a JSON object.
func decodeExpvar(t *testing.T, c *velo.Cache) map[string]float64 {
	t.Helper()
	var m map[string]float64
	require.NoError(t, json.Unmarshal([]byte(c.ExpvarVar().String()), &m))
	return m
}

func TestExpvarVarMatchesStats(t *testing.T) {
	c, err := velo.New(velo.Options{})
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, c.Set("a", []byte("1"), 0))
	require.NoError(t, c.Set("b", []byte("2"), 0))
	require.NoError(t, c.Set("a", []byte("3"), 0))
	_, ok := c.Get("a")
	require.True(t, ok)
	_, ok = c.Get("missing")
	require.False(t, ok)
	require.True(t, c.Delete("b"))

	s := c.Stats()
	require.Equal(t, map[string]float64{
		"hits":            1,
		"misses":          1,
		"sets":            3,
		"deletes":         1,
		"evictions":       0,
		"expirations":     0,
		"entries":         1,
		"bytes":           float64(s.Bytes),
		"held_bytes":      float64(s.HeldBytes),
		"set_bytes":       float64(s.SetBytes),
		"moved_bytes":     0,
		"loads":           0,
		"load_errors":     0,
		"refreshes":       0,
		"negative_hits":   0,
		"stale_served":    0,
		"rejected":        0,
		"callback_panics": 0,
		"forced_gcs":      0,
		"hit_ratio":       0.5,
	}, decodeExpvar(t, c))
	require.Equal(t, int64(24), s.Bytes, "one entry of 16 + 1 + 1 bytes, padded to 8, is left")
	require.Positive(t, s.HeldBytes, "a stored entry holds at least one segment")
}

// The Var is published once, so it must read the cache on every call
// rather than capture a snapshot.
func TestExpvarVarIsLive(t *testing.T) {
	c, err := velo.New(velo.Options{})
	require.NoError(t, err)
	defer c.Close()

	v := c.ExpvarVar()
	before := v.String()
	require.NoError(t, c.Set("k", []byte("v"), 0))
	require.NotEqual(t, before, v.String())

	m := decodeExpvar(t, c)
	require.Equal(t, 1.0, m["sets"])
	require.Equal(t, 1.0, m["entries"])
	require.Zero(t, m["hit_ratio"], "no lookups yet")
}
