package engine

import (
	"math"
	"testing"
)

func TestSeqIndexGetDelAndFront(t *testing.T) {
	var x seqIndex
	es := make([]*pubEntry, 6)
	for i := range es {
		es[i] = &pubEntry{}
		x.put(uint64(i+1), es[i])
	}
	if x.get(3) != es[2] || x.get(0) != nil || x.get(7) != nil || x.get(math.MaxUint64) != nil {
		t.Fatal("get does not return what was put")
	}
	x.del(2)
	if x.get(2) != nil || x.base != 1 {
		t.Fatalf("after del(2): get %v base %d", x.get(2), x.base)
	}
	x.del(1)
	if x.base != 3 || x.width() != 4 {
		t.Fatalf("front did not advance over answered numbers: base %d width %d", x.base, x.width())
	}
	x.put(7, es[0])
	if x.get(7) != es[0] {
		t.Fatal("put after the front moved")
	}
	if lo, hi, ok := x.span(1, math.MaxUint64); !ok || lo != 3 || hi != 7 {
		t.Fatalf("span = %d %d %v, want 3 7 true", lo, hi, ok)
	}
	if _, _, ok := x.span(8, math.MaxUint64); ok {
		t.Fatal("span above everything matched")
	}
	for s := uint64(3); s <= 7; s++ {
		x.del(s)
	}
	if x.width() != 0 {
		t.Fatalf("width %d after deleting everything", x.width())
	}
	x.reset()
	x.put(1, es[1]) // a new connection restarts at 1
	if x.get(1) != es[1] {
		t.Fatal("put after reset")
	}
}

func TestSeqIndexRefusesAGap(t *testing.T) {
	var x seqIndex
	x.put(1, &pubEntry{})
	defer func() {
		if recover() == nil {
			t.Fatal("put(3) after put(1) did not panic")
		}
	}()
	x.put(3, &pubEntry{})
}
