package broker

import "time"

// deadlineQueue holds the ack deadlines of deliveries that share one
// timeout value. Because the core's clock never goes backwards, deadlines
// appended to one such queue are already sorted: a FIFO replaces a heap.
// Settled deliveries are left in place and skipped (lazy removal); live
// counts the others so the FIFO can be compacted when it is mostly stale.
type deadlineQueue struct {
	timeout time.Duration
	refs    []deadlineRef
	head    int
	live    int
}

type deadlineRef struct {
	at    time.Time
	m     *message
	owner *connection
	tag   uint64
}

func (r deadlineRef) isLive() bool {
	return r.m.state == stateUnacked && r.m.owner == r.owner && r.m.tag == r.tag
}

// watchDeadline starts the ack timer of a delivery that just became unacked.
func (c *Core) watchDeadline(m *message, timeout time.Duration) {
	var dq *deadlineQueue
	i := 0
	for ; i < len(c.deadlines); i++ {
		if c.deadlines[i].timeout >= timeout {
			break
		}
	}
	if i < len(c.deadlines) && c.deadlines[i].timeout == timeout {
		dq = c.deadlines[i]
	} else {
		dq = &deadlineQueue{timeout: timeout}
		c.deadlines = append(c.deadlines, nil)
		copy(c.deadlines[i+1:], c.deadlines[i:])
		c.deadlines[i] = dq
	}
	dq.compact() // bounded even if the driver never asks for deadlines
	dq.refs = append(dq.refs, deadlineRef{at: c.now.Add(timeout), m: m, owner: m.owner, tag: m.tag})
	dq.live++
	m.deadlines = dq
}

// front drops stale entries and returns the earliest live one.
func (dq *deadlineQueue) front() (deadlineRef, bool) {
	dq.compact()
	if dq.head == len(dq.refs) {
		return deadlineRef{}, false
	}
	return dq.refs[dq.head], true
}

// compact drops stale entries at the front, and rebuilds the FIFO when
// most entries in the middle are stale, so its length stays proportional
// to the live deliveries (amortised O(1) per delivery).
func (dq *deadlineQueue) compact() {
	for dq.head < len(dq.refs) && !dq.refs[dq.head].isLive() {
		dq.refs[dq.head] = deadlineRef{}
		dq.head++
	}
	n := len(dq.refs) - dq.head
	switch {
	case n == 0:
		dq.refs, dq.head = dq.refs[:0], 0
	case n-dq.live > dq.live+64:
		kept := dq.refs[:0]
		for _, r := range dq.refs[dq.head:] {
			if r.isLive() {
				kept = append(kept, r)
			}
		}
		clear(dq.refs[len(kept):])
		dq.refs, dq.head = kept, 0
	case dq.head > 64 && dq.head > n:
		copy(dq.refs, dq.refs[dq.head:])
		clear(dq.refs[n:])
		dq.refs, dq.head = dq.refs[:n], 0
	}
}

// earliestDeadline returns the deadline queue whose live front is due
// first. Empty queues are dropped on the way: clients choose timeout
// values, so the list must not keep one entry per value ever used.
func (c *Core) earliestDeadline() (*deadlineQueue, time.Time) {
	var best *deadlineQueue
	var at time.Time
	kept := c.deadlines[:0]
	for _, dq := range c.deadlines {
		r, ok := dq.front()
		if !ok {
			continue
		}
		kept = append(kept, dq)
		if best == nil || r.at.Before(at) {
			best, at = dq, r.at
		}
	}
	clear(c.deadlines[len(kept):])
	c.deadlines = kept
	return best, at
}

// Tick processes everything due at now: deliveries past their ack deadline
// are requeued at the head of their queues (and their tags become stale),
// and expired message ids leave the dedup window.
func (c *Core) Tick(now time.Time) {
	c.advance(now)
	c.dedup.expire(c.now)
	c.beginTouch()
	ms := c.scratch[:0]
	for {
		dq, at := c.earliestDeadline()
		if dq == nil || at.After(c.now) {
			break
		}
		r, _ := dq.front()
		dq.refs[dq.head] = deadlineRef{}
		dq.head++
		ms = append(ms, r.m)
		c.release(r.m)
	}
	if len(ms) > 0 {
		c.requeue(ms)
		c.scratch = clearMessages(ms)
		c.dispatchTouched()
	}
	c.catchUp()
}

// catchUp continues the work left for later by earlier calls: the
// dispatches that stopped at their skip budget, then one step budget of
// unparking (outbound.go) and one of teardown (teardown.go).
func (c *Core) catchUp() {
	if len(c.behind) > 0 {
		c.beginTouch()
		for i, q := range c.behind {
			q.behind = false
			c.touch(q)
			c.behind[i] = nil
		}
		c.behind = c.behind[:0]
		c.dispatchTouched()
	}
	c.runUnparks()
	c.runTeardowns()
}

// NextDeadline returns when Tick next has work: the earliest ack deadline
// or dedup expiry, or the core's current time while a teardown or a
// dispatch left for later is pending. ok is false when nothing is pending.
func (c *Core) NextDeadline() (time.Time, bool) {
	if len(c.closing) > 0 || len(c.behind) > 0 || len(c.unparking) > 0 {
		return c.now, true
	}
	dq, at := c.earliestDeadline()
	ok := dq != nil
	if exp, has := c.dedup.nextExpiry(); has && (!ok || exp.Before(at)) {
		at, ok = exp, true
	}
	return at, ok
}
