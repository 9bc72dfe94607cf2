//go:build race

package velo

// raceEnabled is set when tests run under the race detector, which makes
// every memory access several times slower: long loops shorten.
const raceEnabled = true
