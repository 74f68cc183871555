package sim

import "container/heap"

// event is one scheduled action. seq is the insertion sequence number: two
// events at the same virtual time run in the order they were scheduled, which
// makes the whole run a pure function of the seed (a heap alone is not stable).
type event struct {
	at  VTime
	seq uint64
	fn  func()
}

// eventQueue is a min-heap of events ordered by (at, seq).
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = event{} // drop the closure so it can be collected
	*q = old[:n-1]
	return e
}

// scheduler owns the virtual clock and the event queue.
type scheduler struct {
	now    VTime
	seq    uint64
	events eventQueue
	steps  uint64
}

// at schedules fn at virtual time t (never in the past: an event for an
// earlier time runs now, after the events already due now).
func (s *scheduler) at(t VTime, fn func()) {
	if t < s.now {
		t = s.now
	}
	s.seq++
	heap.Push(&s.events, event{at: t, seq: s.seq, fn: fn})
}

// step runs the next event, advancing the clock to its time. It reports
// false when the queue is empty.
func (s *scheduler) step() bool {
	if len(s.events) == 0 {
		return false
	}
	e := heap.Pop(&s.events).(event)
	s.now = e.at
	s.steps++
	e.fn()
	return true
}

// peek returns the time of the next event and whether there is one.
func (s *scheduler) peek() (VTime, bool) {
	if len(s.events) == 0 {
		return 0, false
	}
	return s.events[0].at, true
}
