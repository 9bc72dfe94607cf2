package lincheck

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/velocache/velo"
	"github.com/velocache/velo/clock"
)

var (
	long       = flag.Bool("lincheck.long", false, "run longer histories, more of them")
	seedFlag   = flag.Uint64("lincheck.seed", 0, "base seed of the workers' randomness (0: a fixed default)")
	timeout    = flag.Duration("lincheck.timeout", 30*time.Second, "how long porcupine may search one history before the result is Unknown")
	keepOutput = flag.Bool("lincheck.keep", false, "write every history checked, not only failing ones, to a directory under os.TempDir")
)

// target is the part of velo's API the workers call. *velo.Cache is one;
// the negative controls wrap it in deliberately wrong versions.
type target interface {
	Set(key string, value []byte, ttl time.Duration) error
	Get(key string) ([]byte, bool)
	AppendValue(dst []byte, key string) ([]byte, bool)
	View(key string, fn func(value []byte)) bool
	Has(key string) bool
	Delete(key string) bool
	GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) ([]byte, error)
}

var _ target = (*velo.Cache)(nil)

// encode returns the bytes stored for the value named name: the name, a
// separator and a filler whose length and bytes depend on the name, so
// that values vary in size (and move between segments differently) and a
// torn or mixed-up value does not decode.
func encode(name string) []byte {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	b := make([]byte, 0, len(name)+1+int(h%96))
	b = append(b, name...)
	b = append(b, '|')
	for i := range int(h % 96) {
		b = append(b, 'a'+byte((h>>3+uint32(i))%26))
	}
	return b
}

// decode returns the name of the value v; a value that encode did not
// produce comes back as a name that no write used.
func decode(v []byte) string {
	name, _, ok := bytes.Cut(v, []byte{'|'})
	if !ok || !bytes.Equal(v, encode(string(name))) {
		return fmt.Sprintf("corrupt:%q", v)
	}
	return string(name)
}

// loadName names the value of load n of key: key/L<n>. loadNumber
// returns n, or 0 if name is not the value of a load of key.
func loadName(key string, n int64) string { return key + "/L" + strconv.FormatInt(n, 10) }

func loadNumber(key, name string) int64 {
	num, ok := strings.CutPrefix(name, key+"/L")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// loadID identifies a load.
type loadID struct {
	key string
	n   int64
}

var errLoad = errors.New("lincheck: load failed (on purpose)")

// loadInfo is what a load function reports about one of its calls.
type loadInfo struct {
	ok    bool  // it returned a value, not an error
	ttl   int64 // the TTL it returned
	tEnd  int64 // the clock when it returned
	stamp int64 // the recorder's counter when it returned
}

// recorder collects a history: every operation gets call and return stamps
// from one atomic counter, so an operation that returned before another was
// called has the smaller stamps.
type recorder struct {
	stamp atomic.Int64
	clk   *clock.Clock
	keys  []string

	loadSeq map[string]*atomic.Int64 // per key
	mu      sync.Mutex
	loads   map[loadID]loadInfo
	nLoads  int // loads that ran

	// policy decides whether load n fails and the TTL it returns
	// (randomPolicy if nil); onLoad, if set, is called when load n starts.
	policy func(n int64) (fail bool, ttl time.Duration)
	onLoad func(n int64)
}

// randomPolicy makes one load in eight fail and gives two in three a TTL
// of one to six ticks; it yields a few times first, so that other callers
// can join the load.
func randomPolicy(n int64) (bool, time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(n), 0x10ad))
	for range rng.IntN(4) {
		runtime.Gosched()
	}
	fail := rng.IntN(8) == 0
	var ttl time.Duration
	if rng.IntN(3) > 0 {
		ttl = time.Duration(1+rng.IntN(6)) * tick
	}
	return fail, ttl
}

func newRecorder(clk *clock.Clock, keys []string) *recorder {
	r := &recorder{clk: clk, keys: keys, loadSeq: map[string]*atomic.Int64{}, loads: map[loadID]loadInfo{}}
	for _, k := range keys {
		r.loadSeq[k] = new(atomic.Int64)
	}
	return r
}

func (r *recorder) now() int64 { return r.stamp.Add(1) }

// loader returns a load function for key: each call takes the key's next
// load number n and returns the value key/L<n>, or an error, as r.policy
// says.
func (r *recorder) loader(key string) func(context.Context) ([]byte, time.Duration, error) {
	return func(context.Context) ([]byte, time.Duration, error) {
		n := r.loadSeq[key].Add(1)
		if r.onLoad != nil {
			r.onLoad(n)
		}
		policy := r.policy
		if policy == nil {
			policy = randomPolicy
		}
		fail, ttl := policy(n)
		info := loadInfo{ok: !fail, ttl: int64(ttl), tEnd: r.clk.Now()}
		info.stamp = r.now()
		r.mu.Lock()
		r.loads[loadID{key, n}] = info
		r.nLoads++
		r.mu.Unlock()
		if fail {
			return nil, 0, errLoad
		}
		return encode(loadName(key, n)), ttl, nil
	}
}

// worker records the operations of one goroutine.
type worker struct {
	id  int
	r   *recorder
	ops []porcupine.Operation
}

func (w *worker) add(in input, out output, call int64) {
	w.ops = append(w.ops, porcupine.Operation{ClientId: w.id, Input: in, Output: out, Call: call, Return: w.r.now()})
}

func (w *worker) set(c target, key, name string, ttl time.Duration) error {
	call := w.r.now()
	t0 := w.r.clk.Now()
	err := c.Set(key, encode(name), ttl)
	if err != nil {
		return fmt.Errorf("Set(%q, %q, %v): %w", key, name, ttl, err)
	}
	w.add(input{kind: opSet, key: key, val: name, ttl: int64(ttl), t0: t0}, output{ok: true}, call)
	return nil
}

func (w *worker) get(c target, key string, via int) {
	call := w.r.now()
	var v []byte
	var ok bool
	in := input{kind: opGet, key: key}
	switch via {
	case 0:
		in.via = "Get"
		v, ok = c.Get(key)
	case 1:
		in.via = "AppendValue"
		v, ok = c.AppendValue(make([]byte, 0, 8), key)
	default:
		in.via = "View"
		ok = c.View(key, func(b []byte) { v = bytes.Clone(b) })
	}
	out := output{ok: ok}
	if ok {
		out.val = decode(v)
	}
	w.add(in, out, call)
}

func (w *worker) has(c target, key string) {
	call := w.r.now()
	ok := c.Has(key)
	w.add(input{kind: opHas, key: key}, output{ok: ok}, call)
}

func (w *worker) delete(c target, key string) {
	call := w.r.now()
	ok := c.Delete(key)
	w.add(input{kind: opDelete, key: key}, output{ok: ok}, call)
}

func (w *worker) getOrLoad(c target, key string) error {
	call := w.r.now()
	v, err := c.GetOrLoad(context.Background(), key, w.r.loader(key))
	out := output{ok: err == nil}
	switch {
	case errors.Is(err, errLoad):
		out.err = err.Error()
	case err != nil:
		return fmt.Errorf("GetOrLoad(%q): %w", key, err)
	default:
		out.val = decode(v)
		out.load = loadNumber(key, out.val)
	}
	w.add(input{kind: opGetOrLoad, key: key}, out, call)
	return nil
}

func (w *worker) advance(d time.Duration) {
	call := w.r.now()
	now := w.r.clk.Advance(d)
	w.add(input{kind: opAdvance, ttl: int64(d)}, output{now: now}, call)
}

// history returns the workers' operations and, for each load that returned
// a value, the store of that value by velo's loader goroutine: called when
// the load returned, returned by the time the first caller that got the
// value returned. (velo stores before it hands the value to any caller.)
// Its client is one per key after the workers'.
//
// A GetOrLoad result that no load of its key produced is renamed so that
// the model cannot explain it.
func (r *recorder) history(workers []*worker) []porcupine.Operation {
	var hist []porcupine.Operation
	firstReturn := map[loadID]int64{}
	for _, w := range workers {
		for i := range w.ops {
			op := &w.ops[i]
			in, out := op.Input.(input), op.Output.(output)
			if in.kind == opGetOrLoad && out.load != 0 {
				id := loadID{in.key, out.load}
				if info, ok := r.loads[id]; !ok || !info.ok {
					out.val, out.load = "unloaded:"+out.val, 0
					op.Output = out
				} else if ret, seen := firstReturn[id]; !seen || op.Return < ret {
					firstReturn[id] = op.Return
				}
			}
			hist = append(hist, *op)
		}
	}
	keyIndex := map[string]int{}
	for i, k := range r.keys {
		keyIndex[k] = i
	}
	end := r.now()
	for id, info := range r.loads {
		if !info.ok {
			continue
		}
		ret, ok := firstReturn[id]
		if !ok {
			ret = end // not possible without cancellation: velo hands every value to its callers
		}
		hist = append(hist, porcupine.Operation{
			ClientId: len(workers) + keyIndex[id.key],
			Input:    input{kind: opStore, key: id.key, val: loadName(id.key, id.n), ttl: info.ttl, t0: info.tEnd, n: id.n},
			Output:   output{ok: true},
			Call:     info.stamp,
			Return:   ret,
		})
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].Call < hist[j].Call })
	return hist
}

// mix is how often each kind of operation is chosen, out of 100. noise
// is the share of steps that, instead of an operation on a hot key, Set a
// few keys of the worker's own that the history leaves out, to press on
// the cache's budget in step with the recorded operations.
type mix struct {
	set, get, has, del, getOrLoad, advance, noise int
}

var defaultMix = mix{set: 24, get: 30, has: 8, del: 10, getOrLoad: 22, advance: 6}

// workload says what runWorkers runs.
type workload struct {
	workers, opsEach int // goroutines, and steps each
	seed             uint64
	mix              mix
	// A noise step Sets noiseWrites of noiseKeys keys of the worker's own,
	// with values of noiseBytes bytes.
	noiseWrites, noiseKeys, noiseBytes int
}

// runWorkers runs the goroutines of wl, each taking random steps on the
// keys of r against c, and returns the history.
func runWorkers(c target, r *recorder, wl workload) ([]porcupine.Operation, error) {
	m := wl.mix
	workers := make([]*worker, wl.workers)
	errs := make([]error, wl.workers)
	noiseValue := bytes.Repeat([]byte{'n'}, wl.noiseBytes)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range workers {
		w := &worker{id: i, r: r}
		workers[i] = w
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(wl.seed, uint64(w.id)))
			seq := 0
			<-gate
			for range wl.opsEach {
				if rng.IntN(8) == 0 {
					runtime.Gosched() // interleave more, even on few cores
				}
				if rng.IntN(100) < m.noise {
					for range wl.noiseWrites {
						key := fmt.Sprintf("noise%d-%d", w.id, rng.IntN(wl.noiseKeys))
						if err := c.Set(key, noiseValue, 0); err != nil {
							errs[w.id] = err
							return
						}
					}
					continue
				}
				key := r.keys[rng.IntN(len(r.keys))]
				x := rng.IntN(100)
				switch {
				case x < m.set:
					seq++
					var ttl time.Duration
					if rng.IntN(3) > 0 {
						ttl = time.Duration(1+rng.IntN(6)) * tick
					}
					if err := w.set(c, key, fmt.Sprintf("w%d.%d", w.id, seq), ttl); err != nil {
						errs[w.id] = err
						return
					}
				case x < m.set+m.get:
					w.get(c, key, rng.IntN(3))
				case x < m.set+m.get+m.has:
					w.has(c, key)
				case x < m.set+m.get+m.has+m.del:
					w.delete(c, key)
				case x < m.set+m.get+m.has+m.del+m.getOrLoad:
					if err := w.getOrLoad(c, key); err != nil {
						errs[w.id] = err
						return
					}
				default:
					w.advance(tick)
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r.history(workers), nil
}

// overlapping counts the operations of hist concurrent with another
// operation on the same key (clock advances count for every key), as a
// measure of how much the history tests.
func overlapping(hist []porcupine.Operation) int {
	n := 0
	for _, part := range partitionByKey(hist) {
		part = slices.Clone(part)
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		counted := make([]bool, len(part))
		last, lastReturn := -1, int64(-1) // the operation returning latest so far
		for i, op := range part {
			if last >= 0 && op.Call <= lastReturn {
				counted[i], counted[last] = true, true
			}
			if op.Return > lastReturn {
				last, lastReturn = i, op.Return
			}
		}
		for i, c := range counted {
			if c && part[i].Input.(input).kind != opAdvance {
				n++
			}
		}
	}
	return n
}

// outcome of checking one history.
type outcome struct {
	result porcupine.CheckResult
	dir    string // where the history was written, if it was
	took   time.Duration
}

// check runs porcupine on hist with the model of rules r. A history that
// is not linearizable is reported (see report) and fails t.
func check(t *testing.T, r rules, hist []porcupine.Operation, name string) outcome {
	t.Helper()
	model := modelWith(r)
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(model, hist, *timeout)
	o := outcome{result: res, took: time.Since(start)}
	switch res {
	case porcupine.Unknown:
		t.Logf("%s: UNKNOWN: porcupine gave up after %v on %d operations; this history was NOT verified", name, *timeout, len(hist))
	case porcupine.Illegal:
		o.dir = report(t, model, hist, name, true)
		t.Errorf("%s: history of %d operations is NOT linearizable; history and visualization in %s", name, len(hist), o.dir)
	default:
		if *keepOutput {
			t.Logf("%s: %s; history and visualization in %s", name, res, report(t, model, hist, name, false))
		}
	}
	return o
}

// verdict checks hist against the model of rules r.
func verdict(r rules, hist []porcupine.Operation) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(modelWith(r), hist, *timeout)
}

// report writes hist to a new directory under os.TempDir, which the test
// leaves behind for the reader, and returns the directory: history.txt,
// every operation by call; and for each key whose history is not
// linearizable (each key if none), porcupine's visualization of it,
// <name>-<key>.html. For each key that fails, it also logs the end of the
// longest sequential order porcupine found, with the state after each
// step, and the operations it could not place next, the first of which
// has no explanation there; with full set, the key's whole history too.
func report(t *testing.T, model porcupine.Model, hist []porcupine.Operation, name string, full bool) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "velo-lincheck-")
	if err != nil {
		t.Logf("cannot write the history: %v", err)
		return "(nowhere)"
	}
	var b strings.Builder
	for _, op := range hist {
		fmt.Fprintln(&b, formatOp(op))
	}
	if err := os.WriteFile(filepath.Join(dir, "history.txt"), []byte(b.String()), 0o644); err != nil {
		t.Logf("cannot write the history: %v", err)
	}
	single := model
	single.Partition = nil
	type keyInfo struct {
		key  string
		ops  []porcupine.Operation
		info porcupine.LinearizationInfo
	}
	var ok, bad []keyInfo
	for _, part := range model.Partition(hist) {
		part = slices.Clone(part)
		sort.SliceStable(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		ki := keyInfo{ops: part}
		for _, op := range part {
			if in := op.Input.(input); in.kind != opAdvance {
				ki.key = in.key
				break
			}
		}
		var res porcupine.CheckResult
		res, ki.info = porcupine.CheckOperationsVerbose(single, part, *timeout)
		if res == porcupine.Illegal {
			bad = append(bad, ki)
		} else {
			ok = append(ok, ki)
		}
	}
	show := bad
	if len(bad) == 0 {
		show = ok
	}
	for _, ki := range show {
		vis := filepath.Join(dir, sanitize(name+"-"+ki.key)+".html")
		if err := porcupine.VisualizePath(single, ki.info, vis); err != nil {
			t.Logf("cannot write the visualization: %v", err)
		} else {
			t.Logf("porcupine's visualization of key %s: %s", ki.key, vis)
		}
	}
	for _, ki := range bad {
		logLongestOrder(t, single, ki.key, ki.ops, ki.info, full)
	}
	return dir
}

// logLongestOrder logs what report says it logs for one key.
func logLongestOrder(t *testing.T, model porcupine.Model, key string, part []porcupine.Operation, info porcupine.LinearizationInfo, full bool) {
	t.Helper()
	var b strings.Builder
	if full {
		fmt.Fprintf(&b, "key %s: its history ([call, return] stamps of one counter, by call):\n", key)
		for _, op := range part {
			fmt.Fprintln(&b, formatOp(op))
		}
	}
	var longest []int
	for _, p := range info.PartialLinearizations()[0] {
		if len(p) > len(longest) {
			longest = p
		}
	}
	fmt.Fprintf(&b, "key %s is not linearizable. The longest sequential order found (its last steps, with the state after each):\n", key)
	st := model.Init()
	placed := make([]bool, len(part))
	for i, id := range longest {
		op := part[id]
		_, st = model.Step(st, op.Input, op.Output)
		placed[id] = true
		if i >= len(longest)-20 {
			fmt.Fprintf(&b, "  %s\n      => %s\n", formatOp(op), describeState(st.(state)))
		}
	}
	fmt.Fprintf(&b, "key %s: operations it could not place next (by call):\n", key)
	n := 0
	for id, op := range part {
		if !placed[id] && n < 12 {
			fmt.Fprintf(&b, "  %s\n", formatOp(op))
			n++
		}
	}
	t.Log(b.String())
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func formatOp(op porcupine.Operation) string {
	return fmt.Sprintf("[%6d, %6d] client %2d: %s", op.Call, op.Return, op.ClientId, describeOp(op.Input.(input), op.Output.(output)))
}
