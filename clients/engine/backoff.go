package engine

import "time"

// Rand is the only randomness the engines use: jitter for retry and
// reconnect delays. *math/rand/v2.Rand satisfies it, so a simulator passes
// its seeded generator and a run replays bit for bit. A nil Rand means no
// jitter, which is deterministic too.
type Rand interface {
	// Float64 returns a number in [0.0, 1.0).
	Float64() float64
}

// Backoff computes exponentially growing delays with jitter. The zero value
// is usable: it yields the defaults documented on each field.
type Backoff struct {
	// Min is the delay of the first attempt (default 100ms).
	Min time.Duration
	// Max caps the delay before jitter (default 30s, and never below Min).
	Max time.Duration
	// Jitter is the fraction of the delay added at random: the delay is
	// d + d*Jitter*r with r in [0,1). Zero means the default 0.2; a
	// negative value turns jitter off. Jitter spreads the retries of many
	// clients that lost the broker at the same instant, so they do not all
	// come back in lockstep.
	Jitter float64
}

const (
	defaultBackoffMin    = 100 * time.Millisecond
	defaultBackoffMax    = 30 * time.Second
	defaultBackoffJitter = 0.2
)

// Delay returns the delay before attempt number attempt (1 for the first
// retry). Attempts below 1 are treated as 1. The result is never below Min
// and never above Max*(1+Jitter).
func (b Backoff) Delay(attempt int, r Rand) time.Duration {
	lo, hi := b.bounds()
	if attempt < 1 {
		attempt = 1
	}
	d := lo
	// Doubling until the cap; the loop is bounded by the cap, not by attempt,
	// so a huge attempt number cannot overflow.
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi {
		d = hi
	}
	j := b.Jitter
	if j == 0 {
		j = defaultBackoffJitter
	}
	if j > 0 && r != nil {
		d += time.Duration(float64(d) * j * r.Float64())
	}
	return d
}

func (b Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = defaultBackoffMin
	}
	if hi <= 0 {
		hi = defaultBackoffMax
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}
