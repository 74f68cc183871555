package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMax(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second, Jitter: -1}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := b.Delay(i+1, nil); got != w*time.Second {
			t.Errorf("attempt %d: delay %v, want %v", i+1, got, w*time.Second)
		}
	}
}

func TestBackoffZeroValueUsesDefaults(t *testing.T) {
	var b Backoff
	if got := b.Delay(1, nil); got != defaultBackoffMin {
		t.Errorf("first delay %v, want %v", got, defaultBackoffMin)
	}
	if got := b.Delay(1000, nil); got != defaultBackoffMax {
		t.Errorf("capped delay %v, want %v", got, defaultBackoffMax)
	}
}

func TestBackoffAttemptBelowOneIsFirst(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute, Jitter: -1}
	for _, a := range []int{0, -5} {
		if got := b.Delay(a, nil); got != time.Second {
			t.Errorf("attempt %d: %v, want 1s", a, got)
		}
	}
}

func TestBackoffHugeAttemptDoesNotOverflow(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: time.Hour, Jitter: -1}
	if got := b.Delay(1<<30, nil); got != time.Hour {
		t.Errorf("delay %v, want the cap 1h", got)
	}
}

func TestBackoffMaxBelowMinIsMin(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Millisecond, Jitter: -1}
	if got := b.Delay(5, nil); got != time.Second {
		t.Errorf("delay %v, want 1s", got)
	}
}

func TestBackoffJitterStaysInBoundsAndVaries(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second, Jitter: 0.5}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Delay(1, r)
		if d < time.Second || d >= 1500*time.Millisecond {
			t.Fatalf("delay %v outside [1s, 1.5s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 200 draws: jitter is not applied", len(seen))
	}
}

func TestBackoffSameSeedSameDelays(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	r1 := rand.New(rand.NewPCG(7, 7))
	r2 := rand.New(rand.NewPCG(7, 7))
	for i := 1; i < 20; i++ {
		if a, c := b.Delay(i, r1), b.Delay(i, r2); a != c {
			t.Fatalf("attempt %d: %v vs %v with the same seed", i, a, c)
		}
	}
}
