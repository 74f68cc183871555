package broker

import (
	"strings"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Connection teardown in bounded steps (issue #11).
//
// Close only marks the connection closing and takes it out of c.conns: from
// then on its frames are refused (CodeProtocol: not open), no delivery goes
// to it (nextConsumer skips and removes its consumers), and its held
// outcomes are dropped. What it held is released by a teardown, a job that
// runs at most Config.TeardownStep steps per core call: in Close itself,
// then in every Tick (NextDeadline reports the core's current time while a
// teardown is pending, so a driver that honours it calls Tick again at
// once, after serving whatever else waits for the core). A connection
// holding less than one step budget is torn down within Close, exactly as
// before.
//
// A teardown goes through these phases:
//
//  1. consumers: remove them one per step (a map delete, two unlinks and a
//     room-set removal: O(log consumers of the queue)).
//  2. collect: the connection's outstanding list (detached at Close, so
//     that no compaction walks it) is copied, one entry per step, into
//     the array of a heap keyed (queue name, enqueue seq), the order the
//     one-shot requeue sorted by.
//  3. heapify: sift down from the middle to the root, one step per node
//     and one per level it moves down.
//  4. requeue: pop the greatest key, push it to the head of its queue
//     (marked redelivered) and dispatch it at the end of the call. Popping
//     in descending order and pushing at the head leaves each queue's
//     returned messages in ascending enqueue order at its head, in front of
//     the messages never delivered: the arrangement the one-shot requeue
//     made. Messages past their queue's delivery limit stay unacked (and
//     counted by their queue) until phase 5.
//  5. dead-letter: those past the limit, in ascending (queue, seq) order,
//     after every other message is back, as the one-shot requeue did.
//
// The heap stores each entry's key, so entries that went stale (their
// queue was deleted, the message timed out and was requeued, its record
// freed and reused) keep the heap ordered; an entry is acted on only while
// its message is still an unacked delivery of this connection (isLive),
// which a recycled record can never be again: a closing connection gets no
// delivery. So nothing is lost or duplicated whatever commands interleave.
//
// Cost: phase 1 is O(consumers x log), phases 3-5 O(deliveries x log),
// every step counted in Core.work; each call does at most TeardownStep
// steps plus one sift path (log2 of the connection's deliveries). The
// heap array grows by appending: amortised O(1) per entry.

type teardown struct {
	cn    *connection
	phase int
	heap  []teardownRef
	src   []deliveryRef // phase 2: the outstanding list, detached at Close
	sift  int           // phase 3: the next index to sift down
	past  []teardownRef // phase 5: past the delivery limit, descending
}

type teardownRef struct {
	deliveryRef
	qname string
	seq   uint64
}

func (r teardownRef) less(o teardownRef) bool {
	if r.qname != o.qname {
		return strings.Compare(r.qname, o.qname) < 0
	}
	return r.seq < o.seq
}

const (
	tdConsumers = iota
	tdCollect
	tdHeapify
	tdRequeue
	tdDeadLetter
	tdDone
)

// DefaultTeardownStep is Config.TeardownStep's default: the steps one core
// call spends on tearing down closed connections.
const DefaultTeardownStep = 256

// Closing reports how many closed connections still have teardown work.
func (c *Core) Closing() int { return len(c.closing) }

// startTeardown marks cn closing and queues its teardown. The
// connection's outstanding list is detached (O(1)): released() then has
// nothing to compact, whatever order the deliveries leave in.
func (c *Core) startTeardown(cn *connection) {
	cn.closing = true
	td := &teardown{cn: cn, src: cn.outstanding[cn.outHead:]}
	cn.outstanding, cn.outHead = nil, 0
	cn.td = td
	c.closing = append(c.closing, td)
}

// runTeardowns spends up to one step budget on the pending teardowns,
// oldest first, then dispatches the queues they touched.
func (c *Core) runTeardowns() {
	if len(c.closing) == 0 {
		return
	}
	c.beginTouch()
	budget := c.cfg.TeardownStep
	for len(c.closing) > 0 && budget > 0 {
		td := c.closing[0]
		budget = c.teardownSteps(td, budget)
		if td.phase == tdDone {
			td.cn.td = nil
			c.closing[0] = nil
			c.closing = c.closing[1:]
		}
	}
	if len(c.closing) == 0 {
		c.closing = nil
	}
	c.dispatchTouched()
}

// step counts one unit of teardown work.
func (c *Core) step(budget *int) {
	c.work++
	*budget--
}

// teardownSteps advances td by up to budget steps and returns what is left.
func (c *Core) teardownSteps(td *teardown, budget int) int {
	cn := td.cn
	for budget > 0 {
		switch td.phase {
		case tdConsumers:
			cs := cn.chead
			if cs == nil {
				td.phase = tdCollect
				continue
			}
			c.removeConsumer(cs) // counts its step in c.work
			budget--
		case tdCollect:
			if len(td.src) == 0 {
				td.src = nil
				td.sift = len(td.heap)/2 - 1
				td.phase = tdHeapify
				continue
			}
			r := td.src[0]
			td.src[0] = deliveryRef{}
			td.src = td.src[1:]
			c.step(&budget)
			if cn.isLive(r) {
				td.heap = append(td.heap, teardownRef{r, r.m.q.name, r.m.seq})
			}
		case tdHeapify:
			if td.sift < 0 {
				td.phase = tdRequeue
				continue
			}
			c.step(&budget) // even when the node is in place already
			c.siftDown(td.heap, td.sift, &budget)
			td.sift--
		case tdRequeue:
			if len(td.heap) == 0 {
				td.heap = nil
				td.phase = tdDeadLetter
				continue
			}
			r := td.heap[0]
			last := len(td.heap) - 1
			td.heap[0] = td.heap[last]
			td.heap[last] = teardownRef{}
			td.heap = td.heap[:last]
			c.siftDown(td.heap, 0, &budget)
			c.step(&budget)
			if !cn.isLive(r.deliveryRef) {
				continue
			}
			m := r.m
			if pastDeliveryLimit(m) {
				td.past = append(td.past, r)
				continue
			}
			c.release(m)
			if c.cfg.Mutations.NoRequeueOnClose {
				c.drop(m) // the deliberate bug: lost without a trace
				continue
			}
			m.redelivered = true
			m.state = stateReady
			m.q.ready.pushFront(m)
		case tdDeadLetter:
			n := len(td.past)
			if n == 0 {
				td.past = nil
				td.phase = tdDone
				continue
			}
			r := td.past[n-1]
			td.past[n-1] = teardownRef{}
			td.past = td.past[:n-1]
			c.step(&budget)
			if !cn.isLive(r.deliveryRef) {
				continue
			}
			c.release(r.m)
			if c.cfg.Mutations.NoRequeueOnClose {
				c.drop(r.m)
				continue
			}
			c.deadLetter(r.m, wire.ReasonDeliveryLimit)
		case tdDone:
			return budget
		}
	}
	return budget
}

// siftDown restores the max-heap property below i, one step per level.
func (c *Core) siftDown(h []teardownRef, i int, budget *int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		big := l
		if r := l + 1; r < len(h) && h[l].less(h[r]) {
			big = r
		}
		if !h[i].less(h[big]) {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
		c.step(budget)
	}
}

// appendLive appends the live deliveries a closing connection still
// holds, in no particular order (for Held and the invariant checks).
func (td *teardown) appendLive(dst []*message) []*message {
	cn := td.cn
	for _, r := range td.src {
		if cn.isLive(r) {
			dst = append(dst, r.m)
		}
	}
	for _, r := range td.heap {
		if cn.isLive(r.deliveryRef) {
			dst = append(dst, r.m)
		}
	}
	for _, r := range td.past {
		if cn.isLive(r.deliveryRef) {
			dst = append(dst, r.m)
		}
	}
	return dst
}

// allConns lists the open and the closing connections (for the invariant
// checks; it allocates).
func (c *Core) allConns() []*connection {
	all := make([]*connection, 0, len(c.conns)+len(c.closing))
	for _, cn := range c.conns {
		all = append(all, cn)
	}
	for _, td := range c.closing {
		all = append(all, td.cn)
	}
	return all
}
