package proxy

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

func TestPieceSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		f         DirFaults
		remaining int
		lo, hi    int
	}{
		{DirFaults{}, 5000, 5000, 5000},
		{DirFaults{SliceSize: 10}, 5000, 10, 10},
		{DirFaults{SliceSize: 10}, 4, 4, 4},
		{DirFaults{SliceSize: 10, SliceVariation: 4}, 5000, 6, 14},
		{DirFaults{SliceSize: 1, SliceVariation: 5}, 5000, 1, 6}, // never below one byte
		{DirFaults{BandwidthBps: 5000}, 5000, 100, 100},          // 50 pieces a second
		{DirFaults{BandwidthBps: 10}, 5000, 1, 1},
		{DirFaults{BandwidthBps: 5000, SliceSize: 20}, 5000, 20, 20},
	}
	for _, c := range cases {
		for range 200 {
			n := pieceSize(c.f, c.remaining, r)
			if n < c.lo || n > c.hi {
				t.Fatalf("%+v remaining %d: piece %d outside [%d, %d]", c.f, c.remaining, n, c.lo, c.hi)
			}
		}
	}
}

func TestDelayOf(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := delayOf(DirFaults{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}, r)
		if d < 5*time.Millisecond || d > 15*time.Millisecond {
			t.Fatalf("latency 10ms ± 5ms gave %v", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("jitter produced only %d distinct delays", len(seen))
	}
	if d := delayOf(DirFaults{Jitter: time.Second}, r); d < 0 {
		t.Fatalf("negative delay %v", d)
	}
	if d := delayOf(DirFaults{Delay: faults.Constant(7)}, r); d != 7*time.Millisecond {
		t.Fatalf("plan delay constant 7 ms gave %v", d)
	}
	// Same seed, same choices.
	a := rand.New(rand.NewPCG(9, 9))
	b := rand.New(rand.NewPCG(9, 9))
	f := DirFaults{Latency: time.Millisecond, Jitter: time.Millisecond, Delay: faults.Exponential(5, 50)}
	for range 100 {
		if delayOf(f, a) != delayOf(f, b) {
			t.Fatal("delays differ for the same seed")
		}
	}
}

func TestDirectionString(t *testing.T) {
	if Upstream.String() != "upstream" || Downstream.String() != "downstream" || Direction(7).String() != "direction(7)" {
		t.Fatal("direction names")
	}
}
