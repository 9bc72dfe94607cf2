package targets

import (
	"sync"
	"time"
)

// mutexMap is the design velo replaces: one Go
// map behind one sync.RWMutex, a time.Now call on every Get to check
// expiry, and a goroutine that sweeps expired entries once a minute. Set
// stores the caller's slice and Get returns it, without copying. It is a
// copy of the mutexMap in velo's bench_test.go, which a command cannot
// import.
type mutexMap struct {
	mu    sync.RWMutex
	items map[string]mutexItem
	stop  chan struct{}
}

type mutexItem struct {
	value   []byte
	expires time.Time
}

func newMutexMap() *mutexMap {
	m := &mutexMap{items: make(map[string]mutexItem), stop: make(chan struct{})}
	go m.sweep(time.Minute)
	return m
}

// sweep deletes expired entries every interval until Close.
func (m *mutexMap) sweep(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.mu.Lock()
			for k, it := range m.items {
				if now.After(it.expires) {
					delete(m.items, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

func (m *mutexMap) Set(key string, value []byte, ttl time.Duration) {
	m.mu.Lock()
	m.items[key] = mutexItem{value: value, expires: time.Now().Add(ttl)}
	m.mu.Unlock()
}

func (m *mutexMap) Get(key string) ([]byte, bool) {
	m.mu.RLock()
	it, ok := m.items[key]
	m.mu.RUnlock()
	if !ok || time.Now().After(it.expires) {
		return nil, false
	}
	return it.value, true
}

func (m *mutexMap) Close() { close(m.stop) }
