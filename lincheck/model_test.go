package lincheck

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The manual clock starts at clockStart and moves in whole ticks.
const (
	clockStart = int64(1) << 40
	tick       = time.Millisecond
	never      = int64(math.MaxInt64) // the expiry of an entry without a TTL
)

// opKind says what an operation of a history did.
type opKind uint8

const (
	opSet       opKind = iota // Set(key, val, ttl)
	opGet                     // Get, AppendValue or View (input.via says which)
	opHas                     // Has(key)
	opDelete                  // Delete(key)
	opGetOrLoad               // GetOrLoad(ctx, key, load)
	opStore                   // the store of load number n's value by velo's loader goroutine
	opAdvance                 // clock.Advance(ttl): it belongs to every key's partition
)

// input is an operation's arguments, plus what the recorder knows about
// the clock when the operation began.
type input struct {
	kind opKind
	key  string
	via  string // opGet: "Get", "AppendValue" or "View"
	val  string // opSet, opStore: the name of the value written
	ttl  int64  // opSet, opStore: the TTL in nanoseconds, 0 for none; opAdvance: the step
	// t0 bounds from below the clock time the cache reads to compute the
	// expiry: opSet: read after the call began; opStore: read when the
	// load function returned, before velo's loader goroutine stores.
	t0 int64
	n  int64 // opStore: the load's number (loads are numbered per key)
}

// output is an operation's results.
type output struct {
	ok   bool   // opGet, opHas: found; opDelete: was present; opGetOrLoad: no error
	val  string // opGet, opGetOrLoad: the name of the value returned
	load int64  // opGetOrLoad: the load number of val, if a load produced it
	now  int64  // opAdvance: the clock time Advance returned
	err  string // opGetOrLoad: the error returned
}

// state is the model of one key at one moment of a sequential order. The
// key is absent, or present with value val and an expiry that is known to
// lie in [lo, hi]: a Set reads the clock some time between its call and
// the moment it takes effect, and the clock may move in between, so the
// model keeps the range of expiries the cache may have computed and
// narrows it as later reads show the entry alive (expiry after their time)
// or expired (at or before it). now is the clock time.
//
// Loads are numbered per key, in the order they start; stored is the
// highest number whose value was stored under the key, and bit i of
// pending is set once a caller of load stored+1+i has missed (its load
// may then be stored). Bit i of spoiled is set if a write of the key came
// after that miss: velo's load watches the key from the first caller's
// miss and stores nothing over a newer write.
type state struct {
	now     int64
	present bool
	val     string
	lo, hi  int64
	stored  int64
	pending uint64
	spoiled uint64
}

// written returns s after a write of the key (a Set, a Delete, a load's
// store): the loads missed for so far store nothing.
func (s state) written() state {
	s.spoiled |= s.pending
	return s
}

// alive reports whether the entry may be unexpired now; dead whether it may
// be expired.
func (s state) alive() bool { return s.present && s.now < s.hi }
func (s state) dead() bool  { return !s.present || s.now >= s.lo }

// absent returns s with the key gone: deleted, expired or evicted. Neither
// eviction nor expiry undoes itself, so the entry is not to come back.
func (s state) absent() state {
	s.present, s.val, s.lo, s.hi = false, "", 0, 0
	return s
}

// hit returns s after a read found the entry alive at s.now.
func (s state) hit() state {
	s.lo = max(s.lo, s.now+1)
	return s
}

// write returns s after a write of val with the TTL ttl whose clock read
// came at t0 or later; ok is false if the model's clock has not reached t0
// (no order places the write there).
func (s state) write(val string, ttl, t0 int64) (bool, state) {
	if t0 > s.now {
		return false, s
	}
	s.present, s.val = true, val
	if ttl == 0 {
		s.lo, s.hi = never, never
	} else {
		s.lo, s.hi = t0+ttl, s.now+ttl
	}
	return true, s
}

// rules select the model's nondeterminism.
type rules struct {
	// vanish: an entry may disappear (be evicted) before any step, so a
	// read may miss whatever the state; it may never return a value other
	// than the present one.
	vanish bool
}

// step is the sequential specification of one key of a cache.
func step(s state, in input, out output, r rules) (bool, state) {
	// mayMiss: some order of eviction and expiry leaves the key absent now.
	mayMiss := r.vanish || s.dead()
	switch in.kind {
	case opAdvance:
		s.now += in.ttl
		if s.now != out.now {
			return false, s
		}
		if s.present && s.now >= s.hi {
			s = s.absent() // expired for sure: one state, not many
		}
		return true, s
	case opSet:
		return s.written().write(in.val, in.ttl, in.t0)
	case opStore:
		// Loads of one key run one at a time (GetOrLoad starts one only
		// after the last one left the map of loads in flight, after its
		// store), and are numbered as they start: their stores come in
		// order. A load runs only after a caller missed. Its store
		// writes only if no write of the key came since the miss: the
		// load's watch of the key (see engine.Watch).
		d := in.n - s.stored
		if d <= 0 || d > 64 || s.pending&(1<<(d-1)) == 0 {
			return false, s
		}
		ok := true
		if s.spoiled&(1<<(d-1)) == 0 {
			ok, s = s.written().write(in.val, in.ttl, in.t0)
		}
		s.stored = in.n
		s.pending >>= d
		s.spoiled >>= d
		return ok, s
	case opGet, opHas:
		if out.ok {
			if !s.alive() || in.kind == opGet && out.val != s.val {
				return false, s
			}
			return true, s.hit()
		}
		return mayMiss, s.absent()
	case opDelete:
		s = s.written()
		if out.ok {
			return s.alive(), s.absent()
		}
		return mayMiss, s.absent()
	case opGetOrLoad:
		switch {
		case !out.ok:
			// A miss whose load failed: nothing is stored. (A caller
			// whose load failed after a write of the key returns the
			// value written: that is a hit, below.)
			return mayMiss, s.absent()
		case s.alive() && out.val == s.val:
			// A hit; or a caller that missed, waited for a load and
			// returns its value: taken here, just after the store.
			return true, s.hit()
		case out.load > s.stored:
			// A miss: the caller waits for a load whose value is stored
			// later (its opStore, which must come after this point and
			// before the caller returns). Only failed loads come between
			// two stored ones: far fewer than 64.
			d := out.load - s.stored
			if !mayMiss || d > 64 {
				return false, s
			}
			s = s.absent()
			s.pending |= 1 << (d - 1)
			return true, s
		}
		return false, s
	}
	panic(fmt.Sprintf("lincheck: unknown operation kind %d", in.kind))
}

// modelWith returns the porcupine model of a cache under rules r,
// partitioned by key.
func modelWith(r rules) porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return state{now: clockStart} },
		Step: func(st, in, out any) (bool, any) {
			return step(st.(state), in.(input), out.(output), r)
		},
		DescribeOperation: func(in, out any) string { return describeOp(in.(input), out.(output)) },
		DescribeState:     func(st any) string { return describeState(st.(state)) },
	}
}

// partitionByKey splits a history into one per key. Clock advances belong
// to every key: each partition's model keeps its own copy of the clock.
//
// Checking the keys apart is sound for finding violations: a history with
// a sequential order explains each key's part, advances included. (Every
// advance is applied in the same order in every partition, since each
// returns the clock time it set.) A pass says each key is linearizable
// against the shared clock, which is what the cache promises: it makes no
// promise across keys except that eviction may remove any entry.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var advances []porcupine.Operation
	for _, op := range history {
		in := op.Input.(input)
		if in.kind == opAdvance {
			advances = append(advances, op)
			continue
		}
		byKey[in.key] = append(byKey[in.key], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, append(byKey[k], advances...))
	}
	if len(parts) == 0 && len(advances) > 0 {
		parts = append(parts, advances)
	}
	return parts
}

// ticks formats a clock time as ticks since clockStart.
func ticks(t int64) string {
	if t == never {
		return "never"
	}
	d := float64(t-clockStart) / float64(tick)
	return strconv.FormatFloat(d, 'f', -1, 64)
}

func describeTTL(ttl int64) string {
	if ttl == 0 {
		return "none"
	}
	return time.Duration(ttl).String()
}

func describeOp(in input, out output) string {
	switch in.kind {
	case opAdvance:
		return fmt.Sprintf("Advance(%v) -> t=%s", time.Duration(in.ttl), ticks(out.now))
	case opSet:
		return fmt.Sprintf("Set(%s, %s, ttl %s) [clock at call t=%s]", in.key, in.val, describeTTL(in.ttl), ticks(in.t0))
	case opStore:
		return fmt.Sprintf("store of load %d: Set(%s, %s, ttl %s) [load returned at t=%s]", in.n, in.key, in.val, describeTTL(in.ttl), ticks(in.t0))
	case opGet:
		if !out.ok {
			return fmt.Sprintf("%s(%s) -> miss", in.via, in.key)
		}
		return fmt.Sprintf("%s(%s) -> %s", in.via, in.key, out.val)
	case opHas:
		return fmt.Sprintf("Has(%s) -> %v", in.key, out.ok)
	case opDelete:
		return fmt.Sprintf("Delete(%s) -> %v", in.key, out.ok)
	case opGetOrLoad:
		if !out.ok {
			return fmt.Sprintf("GetOrLoad(%s) -> error %q", in.key, out.err)
		}
		return fmt.Sprintf("GetOrLoad(%s) -> %s", in.key, out.val)
	}
	return fmt.Sprintf("op %d", in.kind)
}

func describePending(s state) string {
	var ns []string
	for i := range int64(64) {
		if s.pending&(1<<i) != 0 {
			ns = append(ns, strconv.FormatInt(s.stored+1+i, 10))
		}
	}
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ",")
}

func describeState(s state) string {
	st := "absent"
	if s.present {
		exp := "never"
		if s.lo != never {
			exp = fmt.Sprintf("in [%s, %s]", ticks(s.lo), ticks(s.hi))
		}
		st = fmt.Sprintf("%s (expires %s)", s.val, exp)
	}
	return fmt.Sprintf("t=%s: %s; last load stored: %d; loads missed for: %s (spoiled by a write: %b)", ticks(s.now), st, s.stored, describePending(s), s.spoiled)
}
