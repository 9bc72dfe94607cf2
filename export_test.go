package velo

import (
	"github.com/velocache/velo/clock"
	"github.com/velocache/velo/engine"
)

// newTestCache builds a cache on a manual clock, optionally with a hash
// function that forces collisions.
func newTestCache(opts Options, clk *clock.Clock, hash func(string) uint64) (*Cache, error) {
	return newCache(opts, engine.Config{Clock: clk, Hash: hash})
}

// sweep runs the expiry sweep now instead of waiting for its tick.
func (c *Cache) sweep() { c.e.SweepExpired() }

// recycled returns how many segments the engine has taken from its pool.
func (c *Cache) recycled() uint64 { return c.e.Stats().Recycled }
