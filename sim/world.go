package sim

import (
	"io"
	"time"
)

// World is one simulated run: the virtual clock and event queue, the single
// PRNG, the network and the trace. It is single-threaded by construction:
// nothing in it starts a goroutine, reads the wall clock or iterates a map
// where order matters, so a seed replays a run exactly.
type World struct {
	sched scheduler
	rng   *rng
	net   network
	trace *Trace
}

// newWorld makes an empty world at virtual time zero.
func newWorld(seed uint64, traceOut io.Writer) *World {
	w := &World{rng: newRNG(seed), trace: newTrace(traceOut)}
	w.net.w = w
	return w
}

// Now is the current virtual time.
func (w *World) Now() VTime { return w.sched.now }

// after schedules fn d from now.
func (w *World) after(d time.Duration, fn func()) { w.sched.at(w.sched.now.Add(d), fn) }

// runUntil runs events until the queue is empty, the next event is past
// limit, or done reports true (checked after every event). It reports whether
// done became true.
func (w *World) runUntil(limit VTime, done func() bool) bool {
	for {
		if done != nil && done() {
			return true
		}
		t, ok := w.sched.peek()
		if !ok || t > limit {
			if w.sched.now < limit && ok {
				w.sched.now = limit
			}
			return done != nil && done()
		}
		w.sched.step()
	}
}
