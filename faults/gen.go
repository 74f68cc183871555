package faults

import "pgregory.net/rapid"

type rapidChooser struct{ t *rapid.T }

// on ignores p: a plain Bool shrinks to false, so a shrunk plan keeps only
// the faults the failure needs.
func (c rapidChooser) on(label string, _ float64) bool { return rapid.Bool().Draw(c.t, label) }
func (c rapidChooser) float(label string, lo, hi float64) float64 {
	return rapid.Float64Range(lo, hi).Draw(c.t, label)
}
func (c rapidChooser) millis(label string, lo, hi Millis) Millis {
	return Millis(rapid.Int64Range(int64(lo), int64(hi)).Draw(c.t, label))
}
func (c rapidChooser) pick(label string, n int) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }

// Gen draws valid plans from the same space as Swarm, every choice a rapid
// Draw: when a property fails, rapid shrinks the plan towards fewer and
// weaker faults and an earlier heal.
func Gen() *rapid.Generator[Plan] {
	return rapid.Custom(func(t *rapid.T) Plan {
		pl := drawPlan(rapidChooser{t})
		pl.Name = "generated"
		return pl
	})
}
