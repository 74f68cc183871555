package engine

import (
	"math"
	"testing"
)

func TestSeqRingTakesEachEntryOnce(t *testing.T) {
	var r seqRing
	p1, p2 := NewPublisher(PublisherConfig{}), NewPublisher(PublisherConfig{})
	for s := uint64(1); s <= 6; s++ {
		pub := p1
		if s%2 == 0 {
			pub = p2
		}
		r.add(s, seqRef{pub: pub, local: s * 10})
	}
	if ref, ok := r.take(4); !ok || ref.pub != p2 || ref.local != 40 {
		t.Fatalf("take(4) = %+v %v", ref, ok)
	}
	if _, ok := r.take(4); ok {
		t.Fatal("took 4 twice")
	}
	for _, s := range []uint64{0, 7, math.MaxUint64} {
		if _, ok := r.take(s); ok {
			t.Fatalf("took %d, never added", s)
		}
	}
	for _, s := range []uint64{1, 2, 3} {
		if _, ok := r.take(s); !ok {
			t.Fatalf("take(%d) failed", s)
		}
	}
	// 1..4 taken: the front moved to 5.
	if r.base != 5 || r.len() != 2 {
		t.Fatalf("base %d len %d, want 5 and 2", r.base, r.len())
	}
	r.add(7, seqRef{pub: p1, local: 70})
	if ref, ok := r.take(7); !ok || ref.local != 70 {
		t.Fatalf("take(7) = %+v %v", ref, ok)
	}
}

func TestSeqRingRefusesAGapInSequenceNumbers(t *testing.T) {
	var r seqRing
	r.add(1, seqRef{pub: &Publisher{}})
	defer func() {
		if recover() == nil {
			t.Fatal("adding 3 after 1 did not panic")
		}
	}()
	r.add(3, seqRef{pub: &Publisher{}})
}

func TestSeqRingSpanClampsHostileRanges(t *testing.T) {
	var r seqRing
	if _, _, ok := r.span(1, math.MaxUint64); ok {
		t.Fatal("an empty ring matched a range")
	}
	for s := uint64(10); s < 20; s++ {
		r.add(s, seqRef{pub: &Publisher{}})
	}
	for _, c := range []struct {
		f, l, lo, hi uint64
		ok           bool
	}{
		{1, math.MaxUint64, 10, 19, true},
		{12, 14, 12, 14, true},
		{1, 9, 0, 0, false},
		{20, math.MaxUint64, 0, 0, false},
		{15, 12, 0, 0, false},
	} {
		lo, hi, ok := r.span(c.f, c.l)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("span(%d, %d) = %d, %d, %v; want %d, %d, %v", c.f, c.l, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

func TestSeqRingCompactsAndResets(t *testing.T) {
	var r seqRing
	p := &Publisher{}
	for s := uint64(1); s <= 5000; s++ {
		r.add(s, seqRef{pub: p, local: s})
	}
	// Leave seq 1 pending so the front cannot move, then the rest.
	for s := uint64(3000); s <= 5000; s++ {
		r.take(s)
	}
	if _, ok := r.take(1); !ok {
		t.Fatal("take(1) failed")
	}
	for s := uint64(2); s < 2999; s++ {
		r.take(s)
	}
	// 2999 is the oldest untaken; the taken slots after it still count.
	if r.len() != 2002 || r.base != 2999 {
		t.Fatalf("len %d base %d, want 2002 and 2999", r.len(), r.base)
	}
	if len(r.refs) > 2500 {
		t.Fatalf("the dead prefix was not compacted: %d slots kept", len(r.refs))
	}
	if _, ok := r.take(2999); !ok || r.len() != 0 {
		t.Fatalf("after taking the last entry: ok %v len %d", ok, r.len())
	}
	r.reset()
	r.add(1, seqRef{pub: p, local: 1}) // a new session starts at 1 again
	if ref, ok := r.take(1); !ok || ref.local != 1 {
		t.Fatalf("after reset: take(1) = %+v %v", ref, ok)
	}
}
