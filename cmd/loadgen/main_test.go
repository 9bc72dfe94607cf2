package main

import (
	"io"
	"reflect"
	"testing"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/fill"
	"github.com/velocache/velo/cmd/loadgen/internal/gcbench"
	"github.com/velocache/velo/cmd/loadgen/internal/genlog"
	"github.com/velocache/velo/cmd/loadgen/internal/redislatency"
	"github.com/velocache/velo/cmd/loadgen/internal/throughput"
	"github.com/velocache/velo/cmd/loadgen/internal/trace"
)

// TestJob checks that each mode's flag selects its job, and no flag the
// throughput table.
func TestJob(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(config.Config, io.Writer) error
	}{
		{nil, throughput.Run},
		{[]string{"-gc"}, gcbench.Run},
		{[]string{"-trace", "x.csv"}, trace.Run},
		{[]string{"-fill"}, fill.Run},
		{[]string{"-redis-compare"}, redislatency.Run},
		{[]string{"-gen-log", "x.csv"}, genlog.Run},
	} {
		cfg, err := config.Parse(tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got := job(cfg); reflect.ValueOf(got).Pointer() != reflect.ValueOf(tc.want).Pointer() {
			t.Errorf("%q: job is not the one the flag names", tc.args)
		}
	}
}
