//go:build !race

package velo

const raceEnabled = false
