package engine

import (
	"testing"
	"unsafe"
)

// The shard's layout keeps what readers load and what a Set writes on
// separate cache lines (see the shard type); this checks it still does.
func TestShardLayout(t *testing.T) {
	var s shard
	const line = 64
	readers := unsafe.Offsetof(s.index)
	readersEnd := unsafe.Offsetof(s.slots) + unsafe.Sizeof(s.slots)
	hot := unsafe.Offsetof(s.mu)
	hotEnd := unsafe.Offsetof(s.setBytes) + unsafe.Sizeof(s.setBytes)
	if readers/line != (readersEnd-1)/line {
		t.Errorf("the readers' fields [%d, %d) straddle two cache lines", readers, readersEnd)
	}
	if hot%line != 0 || (hotEnd-1)/line != hot/line {
		t.Errorf("the Set path's fields [%d, %d) are not one aligned cache line", hot, hotEnd)
	}
	if unsafe.Sizeof(s)%line != 0 {
		t.Errorf("a shard is %d bytes, not a multiple of %d: shards in a slice would drift off line boundaries", unsafe.Sizeof(s), line)
	}
	if unsafe.Offsetof(s.e)/line == hot/line {
		t.Errorf("the Set path's line is shared with the cold fields")
	}
	if w := unsafe.Offsetof(s.waiting); w/line == hot/line || w/line == unsafe.Offsetof(s.e)/line {
		t.Errorf("the waiting list at %d shares a line with the Set path's or the cold fields", w)
	}
}

// The index's delete looks only at the slots on one cache line, assuming
// slotsPerLine of them fit (see table.delete).
func TestSlotLayout(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got*slotsPerLine != 64 {
		t.Errorf("a slot is %d bytes: %d do not fill a 64-byte line", got, slotsPerLine)
	}
}
