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
//
// Usage:
//
//	go run ./cmd/loadgen                                  # velo vs mutexmap, every mix, 1..NumCPU procs
//	go run ./cmd/loadgen -target all -procs 1,2 -plot out.svg
//	go run ./cmd/loadgen -mix 75 -value-size 32-1024 -json out.json
//	go run ./cmd/loadgen -gc -gc-entries 1000000
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

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/fill"
	"github.com/velocache/velo/cmd/loadgen/internal/gcbench"
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

// run profiles the run if -cpuprofile asks, and runs the job the flags
// select, its report going to w.
func run(cfg config.Config, w io.Writer) error {
	if cfg.CPUProf != "" {
		f, err := os.Create(cfg.CPUProf)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", cfg.CPUProf, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return job(cfg)(cfg, w)
}

// job is the mode the flags select; the throughput table by default.
func job(cfg config.Config) func(config.Config, io.Writer) error {
	switch {
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
