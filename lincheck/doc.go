// Package lincheck checks that velo's Cache is linearizable: that every
// concurrent history of its public API (Set, Get, AppendValue, View, Has,
// Delete, GetOrLoad) on a few hot keys, interleaved with advances of the
// manual clock that drives TTL expiry, is explained by some sequential
// order of the same operations on a simple model of the cache, key by key.
//
// The tests record each operation's call and return (stamps from one
// atomic counter), its arguments and its results, from several goroutines,
// and porcupine (github.com/anishathalye/porcupine) searches for such an
// order. The model of one key is absent, or present with a value and an
// expiry. Values are unique per write and per load, so a stale value, a
// value returned after its key was deleted, overwritten or expired, or a
// value never written has no explanation. In detail:
//
//   - Clock advances are operations of the history, in every key's part:
//     the model's state holds the time. A Set reads the clock somewhere
//     between its call and the moment it takes effect, so the model keeps
//     the range of expiries it may have computed; an entry stored with TTL
//     d at time t is absent from t+d on.
//   - GetOrLoad is a hit, or a miss whose caller waits for a load and
//     returns its value. velo stores a loaded value with a Set of its own,
//     from the goroutine that ran load, before handing it to the callers:
//     the history holds that store as a separate operation, and the model
//     requires a caller's miss before it and the store before the caller
//     returns. Loads of one key are stored in the order they started.
//   - Eviction is the one free step: in the configurations that can evict
//     (a small MaxBytes, MaxEntries), a present entry may vanish between
//     any two operations, never to come back; in the one that cannot, a
//     vanished entry is a violation, and the run must evict nothing.
//
// Wrong caches (stale reads, lost deletes, TTLs ignored, loads on hits, an
// evicting cache checked as one that may not evict) are checked by the
// same model and must be rejected, so that a pass means something.
//
// A violation is reported with the history and porcupine's visualization
// of the keys that fail, written to a directory under os.TempDir, and
// fails the test. The two violations the check found are kept as
// regression tests (regression_test.go). A history porcupine could not
// decide in time
// (-lincheck.timeout) is logged as not verified, never counted as a pass.
//
// The package has no code of its own, only tests. It is a module of its
// own (github.com/velocache/velo/lincheck, with a replace of the library)
// so that porcupine stays out of the library's go.mod: programs that
// import velo neither download nor build it. Run it with
//
//	cd lincheck && GOWORK=off go test -race ./...
//
// and add -lincheck.long for longer and more histories.
package lincheck
