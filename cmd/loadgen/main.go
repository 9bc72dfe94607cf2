// Command loadgen measures velo for capacity planning: throughput and
// latency across core counts next to the design velo replaces (a map
// behind one sync.RWMutex), the peer caches and Redis (package targets).
//
// The throughput workload follows the benchmarks of Caffeine and otter.
// Before anything is timed, loadgen builds the key strings ("user:%08d")
// and a stream of 1<<20 key indices drawn from a Zipf, uniform or
// sequential distribution. A cell is one read/write mix at one GOMAXPROCS
// setting. For each cell and each target, loadgen fills a fresh cache with
// every key, then runs GOMAXPROCS goroutines: each starts at its own offset
// of the shared stream and steps through it, and for each key does a read
// or a write as the mix says. The goroutines run for a warmup, then for the
// measured duration; throughput is the ops they counted over the measured
// wall time. Every 64th op is timed with time.Now into an HDR histogram
// (p50/p99/p99.9); each sample includes the cost of reading the clock,
// which the header reports. Within a cell the targets run one after
// another, in an order that rotates from cell to cell, so drift in the
// machine affects them alike.
//
// The flags fill one config.Config (package config); the throughput table
// is package throughput, its workload and the worker loop that every mode
// shares package workload. Other modes replace the table:
//
//	-redis-compare  Get and Set one at a time, velo in process vs Redis (package redislatency)
//	-gc             memory and GC cost with millions of entries, a process per target (package gcbench)
//	-trace FILE     replay an access trace and print hit ratios per capacity (package trace)
//	-fill           keys kept and memory taken by a working set with overwrites, per cache (package fill)
//	-gen-log FILE   write a synthetic application access log (package genlog)
//
// # Capacity planning
//
// With -trace and capacities in bytes, loadgen answers a capacity
// planner's questions from an access log of their own service (the plain
// format: "key[,size[,timestamp]]" per line, see package tracefile): the
// miss-ratio curve over a byte sweep, the smallest budget that reaches a
// hit ratio (-target-hit, bisected further with -refine), and for one
// budget the planner's summary: velo's hit ratio and bytes per entry, its
// requests per second per core on the log's keys and sizes, and with
// -rate the origin load and the cores that rate takes. In -capacities a
// bare number is an entry count (1000) and a number with a unit is bytes
// (64MiB, 1GiB, 1000000B); one run takes one or the other.
// docs/capacity-planning.md is the walkthrough.
//
// Usage:
//
//	go run ./cmd/loadgen                                  # velo vs mutexmap, every mix, 1..NumCPU procs
//	go run ./cmd/loadgen -target all -procs 1,2 -plot out.svg
//	go run ./cmd/loadgen -mix 75 -value-size 32-1024 -json out.json
//	go run ./cmd/loadgen -gc -gc-entries 1000000
//	go run ./cmd/loadgen -gen-log app.csv.gz -gen-requests 4000000 -gen-keys 200000 -zipf-s 0.9 -value-size 100-20000
//	go run ./cmd/loadgen -trace app.csv.gz -capacities 128MiB,256MiB,512MiB,1GiB -target-hit 0.9 -refine 4 -rate 2M -plot mrc.svg
//
// # Installing
//
// From a clone of the repository, at its root (the go.work there puts the
// library and this module together):
//
//	go install ./cmd/loadgen
//
// or, without the workspace, from this directory: cd cmd/loadgen && go
// install . (its go.mod replaces the library with ../..). Both build
// against the library in the clone.
//
// "go install github.com/velocache/velo/cmd/loadgen@vX" from anywhere does
// not work yet: the go command refuses a module whose go.mod has a replace
// directive. A release needs, in this order: the library tagged (vX.Y.Z);
// this module's go.mod requiring github.com/velocache/velo at that tag,
// with the replace removed, go.sum updated, and the module tagged with its
// own prefix (cmd/loadgen/vX.Y.Z). Then
//
//	go install github.com/velocache/velo/cmd/loadgen@vX.Y.Z
//
// installs it.
//
// loadgen is its own module, so that the peers, the Redis client, the
// histograms and the plotting never become requirements of velo.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	rtrace "runtime/trace"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/fill"
	"github.com/velocache/velo/cmd/loadgen/internal/gcbench"
	"github.com/velocache/velo/cmd/loadgen/internal/genlog"
	"github.com/velocache/velo/cmd/loadgen/internal/redislatency"
	"github.com/velocache/velo/cmd/loadgen/internal/throughput"
	"github.com/velocache/velo/cmd/loadgen/internal/trace"
)

func main() {
	cfg, err := config.Parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		config.PrintUsage(os.Stderr)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v (see -h)\n", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

// run profiles and traces the run if -cpuprofile and -exectrace ask, and
// runs the job the flags select, its report going to w.
func run(cfg config.Config, w io.Writer) error {
	for _, r := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{
		{cfg.CPUProf, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{cfg.ExecTrace, rtrace.Start, rtrace.Stop},
	} {
		if r.path == "" {
			continue
		}
		f, err := os.Create(r.path)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", r.path, err)
		}
		defer f.Close()
		if err := r.start(f); err != nil {
			return err
		}
		defer r.stop()
	}
	return job(cfg)(cfg, w)
}

// job is the mode the flags select; the throughput table by default.
func job(cfg config.Config) func(config.Config, io.Writer) error {
	switch {
	case cfg.Gen.Path != "":
		return genlog.Run
	case cfg.GC:
		return gcbench.Run
	case cfg.TracePath != "":
		return trace.Run
	case cfg.Fill.On:
		return fill.Run
	case cfg.RedisCompare:
		return redislatency.Run
	}
	return throughput.Run
}
