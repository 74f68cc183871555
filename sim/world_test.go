package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestEventsRunInTimeThenInsertionOrder(t *testing.T) {
	w := newWorld(1, nil)
	var got []string
	add := func(at VTime, s string) { w.sched.at(at, func() { got = append(got, s) }) }
	add(30, "c")
	add(10, "a1")
	add(20, "b")
	add(10, "a2")
	add(10, "a3")
	w.sched.at(5, func() {
		// scheduling into the past runs "now", after what is already due now
		w.sched.at(0, func() { got = append(got, "late") })
	})
	for w.sched.step() {
	}
	want := "late a1 a2 a3 b c"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("order = %q, want %q", s, want)
	}
	if w.Now() != 30 {
		t.Fatalf("clock = %d, want 30", w.Now())
	}
}

func TestVirtualTimeRoundTrips(t *testing.T) {
	v := VTime(1_234_567_891)
	if got := FromTime(v.Time()); got != v {
		t.Fatalf("FromTime(Time(%d)) = %d", v, got)
	}
	if FromTime(time.Time{}) != 0 || FromTime(Epoch.Add(-time.Hour)) != 0 {
		t.Fatal("times before the epoch must clamp to zero")
	}
	if v.Add(time.Second).Sub(v) != time.Second {
		t.Fatal("Add/Sub disagree")
	}
}

func TestRNGIsSeededAndIndependentOfGlobalState(t *testing.T) {
	a, b, c := newRNG(7), newRNG(7), newRNG(8)
	var ba, bb, bc [64]byte
	a.Read(ba[:])
	b.Read(bb[:])
	c.Read(bc[:])
	if ba != bb {
		t.Fatal("same seed gave different bytes")
	}
	if ba == bc {
		t.Fatal("different seeds gave the same bytes")
	}
	if a.chance(0) || !a.chance(1) {
		t.Fatal("chance extremes wrong")
	}
	for i := 0; i < 100; i++ {
		d := a.between(time.Millisecond, 2*time.Millisecond)
		if d < time.Millisecond || d > 2*time.Millisecond {
			t.Fatalf("between out of range: %v", d)
		}
	}
}

func TestTraceHashCoversEveryLineAndWritesWhenAsked(t *testing.T) {
	var out bytes.Buffer
	a, b := newTrace(&out), newTrace(nil)
	a.begin(1500, "p1").word("publish").num("seq", 3).str("id", "m1").end()
	b.begin(1500, "p1").word("publish").num("seq", 3).str("id", "m1").end()
	if a.Hash() != b.Hash() {
		t.Fatal("identical lines gave different hashes")
	}
	if got, want := out.String(), "t=1 p1 publish seq=3 id=m1\n"; got != want {
		t.Fatalf("trace line = %q, want %q", got, want)
	}
	b.begin(1500, "p1").word("publish").num("seq", 4).end()
	if a.Hash() == b.Hash() || b.Lines() != 2 {
		t.Fatal("an extra line did not change the hash")
	}
}
