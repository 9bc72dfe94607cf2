package machine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkSetDesigns models the memory traffic of a cache's Set under
// four designs, to tell how far each could scale writes on this machine
// before any of them is built. A Set here does only what a log-structured
// cache's Set must do to memory, with none of a cache's other work: it
// appends a 96-byte entry to a log (with the log segment's bookkeeping),
// points the key's index slot at it (an atomic swap, as a lock-free
// reader needs), and does the bookkeeping of the entry it replaced (its
// segment's counts and its dead mark). Keys are uniform over otter's
// preset's 10,923, as in BenchmarkSetShards (package engine); ns/op is
// wall time per Set, so two goroutines that scale perfectly show half the
// ns/op of one. The designs share less and less between the cores:
//
//   - shard-log: velo's. Eight shards, each with a lock and one log that
//     every core appends to.
//   - core-heads: the same shards and locks, but each goroutine appends
//     to a log of its own in each shard.
//   - core-logs: no locks; each goroutine appends to one log of its own,
//     and every segment's bookkeeping is done by atomic adds (another
//     core may replace an entry in it).
//   - index-only: each goroutine appends to a log of its own and swaps
//     the index slot; no bookkeeping at all. No cache that finds a key's
//     latest value through one index can share less on a write.
//
// private is the control: index-only with an index of each goroutine's
// own, so that nothing is shared.
func BenchmarkSetDesigns(b *testing.B) {
	for _, design := range []string{"shard-log", "core-heads", "core-logs", "index-only", "private"} {
		for _, goroutines := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", design, goroutines), func(b *testing.B) {
				m := newSetModel()
				value := make([]byte, modelEntry)
				for k := range modelKeys {
					m.set(design, k, k&1, value)
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 9))
						for range b.N / goroutines {
							m.set(design, rng.IntN(modelKeys), g, value)
						}
					})
				}
				wg.Wait()
			})
		}
	}
}

const (
	modelKeys     = 1<<15/3 + 1
	modelShards   = 8
	modelEntry    = 96
	modelSegBytes = 32 << 10
	modelLogBytes = 32 * modelSegBytes // a ring: appends wrap around
)

// modelLog is a ring of segments with a bookkeeping line per segment.
type modelLog struct {
	_    [64]byte
	used int // the append position, on a line of its own
	_    [56]byte
	data []byte
	segs []modelSeg
	dead []uint64 // a bit per 16 bytes
}

type modelSeg struct {
	live, bytes int64
	_           [48]byte
}

func newModelLog() *modelLog {
	return &modelLog{
		data: make([]byte, modelLogBytes),
		segs: make([]modelSeg, modelLogBytes/modelSegBytes),
		dead: make([]uint64, modelLogBytes/16/64),
	}
}

// write copies v to the append position and returns its offset.
func (l *modelLog) write(v []byte) int {
	if l.used+modelEntry > len(l.data) {
		l.used = 0
	}
	off := l.used
	copy(l.data[off:off+modelEntry], v)
	l.used += modelEntry
	return off
}

func (l *modelLog) append(v []byte) int {
	off := l.write(v)
	s := &l.segs[off/modelSegBytes]
	s.live++
	s.bytes += modelEntry
	return off
}

// appendShared is append for a log whose bookkeeping other goroutines
// change too (core-logs).
func (l *modelLog) appendShared(v []byte) int {
	off := l.write(v)
	s := &l.segs[off/modelSegBytes]
	atomic.AddInt64(&s.live, 1)
	atomic.AddInt64(&s.bytes, modelEntry)
	return off
}

func (l *modelLog) vacate(off int) {
	s := &l.segs[off/modelSegBytes]
	s.live--
	s.bytes -= modelEntry
	i := off / 16
	l.dead[i/64] |= 1 << (i % 64)
}

func (l *modelLog) vacateAtomic(off int) {
	s := &l.segs[off/modelSegBytes]
	atomic.AddInt64(&s.live, -1)
	atomic.AddInt64(&s.bytes, -modelEntry)
	i := off / 16
	atomic.OrUint64(&l.dead[i/64], 1<<(i%64))
}

type modelShard struct {
	_     [64]byte
	mu    sync.Mutex
	count int
	_     [48]byte
	logs  [2]*modelLog // [0]: the shard's one log (shard-log); [g]: goroutine g's (core-heads)
}

// setModel holds every log in logs, so that an index slot names its
// entry's log by number: shard s's logs are 2s and 2s+1, goroutine g's
// own log is 2*modelShards+g.
type setModel struct {
	shards [modelShards]modelShard
	logs   []*modelLog
	index  [2][]atomic.Uint64 // [1] is goroutine 1's own index (private)
}

func newSetModel() *setModel {
	m := &setModel{}
	for s := range m.shards {
		for g := range 2 {
			m.shards[s].logs[g] = newModelLog()
			m.logs = append(m.logs, m.shards[s].logs[g])
		}
	}
	m.logs = append(m.logs, newModelLog(), newModelLog())
	for i := range m.index {
		m.index[i] = make([]atomic.Uint64, 2*modelKeys) // half full, as an open-addressing table
	}
	return m
}

// slotOf spreads keys over the index as a hash table would, one slot per
// key: 10,007 is prime and does not divide the index's length, so
// multiplying by it is one-to-one modulo that length.
func slotOf(k int) int { return k * 10007 % (2 * modelKeys) }

func packLoc(log, off int) uint64 { return uint64(log)<<32 | uint64(off) }

func (m *setModel) set(design string, k, g int, v []byte) {
	switch design {
	case "shard-log", "core-heads":
		s := k % modelShards
		sh := &m.shards[s]
		head := 0
		if design == "core-heads" {
			head = g
		}
		sh.mu.Lock()
		off := sh.logs[head].append(v)
		sh.count++
		old := m.index[0][slotOf(k)].Swap(packLoc(2*s+head, off))
		m.logs[old>>32].vacate(int(uint32(old)))
		sh.mu.Unlock()
	case "core-logs":
		log := 2*modelShards + g
		off := m.logs[log].appendShared(v)
		old := m.index[0][slotOf(k)].Swap(packLoc(log, off))
		m.logs[old>>32].vacateAtomic(int(uint32(old)))
	case "index-only", "private":
		index := 0
		if design == "private" {
			index = g
		}
		log := 2*modelShards + g
		off := m.logs[log].append(v)
		m.index[index][slotOf(k)].Swap(packLoc(log, off))
	}
}
