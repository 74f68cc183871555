package sim

import (
	"math/rand/v2"
	"time"
)

// rng is the run's single source of choices. Every fault decision, workload
// choice, timing and the randomness handed to the envelope code is drawn from
// it, in the order the single-threaded event loop asks, so a seed fixes the
// whole run.
type rng struct {
	r *rand.Rand
}

func newRNG(seed uint64) *rng {
	// The second PCG word is a fixed odd constant so seed 0 is as good as any.
	return &rng{r: rand.New(rand.NewPCG(seed, 0x9E3779B97F4A7C15))}
}

// chance reports true with probability p (p <= 0 never, p >= 1 always, and
// neither extreme consumes a draw, so switching a fault off does not shift
// the choices a run makes elsewhere more than necessary).
func (g *rng) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	return g.r.Float64() < p
}

// between returns a duration uniformly in [lo, hi].
func (g *rng) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.r.Int64N(int64(hi-lo)+1))
}

// intn returns an int in [0, n).
func (g *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return g.r.IntN(n)
}

// uint64 returns 64 random bits.
func (g *rng) uint64() uint64 { return g.r.Uint64() }

// Read fills p with pseudo-random bytes, so the rng can be the io.Reader the
// envelope code draws keys and nonces from. It never fails.
func (g *rng) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8 && i+j < len(p); j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return len(p), nil
}
