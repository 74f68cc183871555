package broker

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ciphermq/ciphermq/broker/record"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// release takes an unacked message away from its connection, consumer and
// deadline list. The message is left in limbo: the caller must requeue,
// dead-letter or drop it. Its queue is touched (the consumer has room
// again), so the caller must have called beginTouch.
func (c *Core) release(m *message) {
	if m.state != stateUnacked {
		panic("broker: releasing a message that is not unacked")
	}
	c.touch(m.q)
	m.q.unacked--
	m.q.unlinkUnacked(m)
	if m.consumer != nil {
		m.consumer.unacked--
		c.syncRoom(m.consumer)
	}
	if m.deadlines != nil {
		m.deadlines.live--
	}
	m.state = stateLimbo
	m.owner.released()
	m.owner, m.consumer, m.deadlines, m.tag = nil, nil, nil, 0
}

// drop removes a message in limbo or ready from the core for good.
func (c *Core) drop(m *message) {
	c.persistSettle(m, record.Discarded)
	m.q.bytes -= int64(m.size())
	if m.q.bytes < 0 {
		panic("broker: queue " + m.q.name + " byte count below zero")
	}
	c.memRelease(m)
	c.freeMessage(m)
}

// requeue puts released messages back at the head of their queues, each
// queue's messages in their original enqueue order, marked redelivered.
// Messages already delivered DeliveryLimit times are dead-lettered instead.
// Touched queues are recorded for dispatchTouched.
func (c *Core) requeue(ms []*message) {
	if len(ms) == 0 {
		return
	}
	// Sort by queue name, then enqueue order, so the result does not
	// depend on how the caller collected them.
	slices.SortFunc(ms, func(a, b *message) int {
		if a.q != b.q {
			return strings.Compare(a.q.name, b.q.name)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	// Requeue first and dead-letter after: a dead-letter queue's room must
	// be judged with its own returning messages counted again.
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if pastDeliveryLimit(m) {
			continue
		}
		m.redelivered = true
		m.state = stateReady
		m.q.ready.pushFront(m)
		c.touch(m.q)
	}
	for _, m := range ms {
		if m.state == stateLimbo && pastDeliveryLimit(m) {
			c.deadLetter(m, wire.ReasonDeliveryLimit)
		}
	}
}

// pastDeliveryLimit reports whether a returning message has used up its
// queue's delivery attempts.
func pastDeliveryLimit(m *message) bool {
	limit := m.q.opts.DeliveryLimit
	return limit > 0 && int(m.deliveries) >= limit
}

// deadLetter moves a message in limbo to its queue's dead-letter queue, or
// discards it (counted) when there is none or it is full. The copy keeps
// reason (wire.ReasonNone: none given).
func (c *Core) deadLetter(m *message, reason wire.RejectReason) {
	src := m.q
	dlq := src.dlq
	if dlq == nil || !dlq.hasRoomFor(m.size()) || c.cfg.Mutations.DeadLetterDrops {
		src.c.discarded++
		c.drop(m)
		return
	}
	src.c.deadLettered++
	c.persistSettle(m, record.DeadLettered)
	src.bytes -= int64(m.size())
	dlq.seq++
	m.q, m.seq = dlq, dlq.seq
	m.deliveries, m.redelivered = 0, false
	m.reason = reason
	m.state = stateReady
	dlq.bytes += int64(m.size())
	dlq.c.deadLetterIn++
	dlq.ready.pushBack(m)
	c.persistCopy(m)
	c.touch(dlq)
}

// beginTouch starts collecting the queues an operation changed, so that
// each is dispatched once afterwards in a deterministic order.
func (c *Core) beginTouch() {
	c.touchEpoch++
	clear(c.touched)
	c.touched = c.touched[:0]
}

func (c *Core) touch(q *queue) {
	if q.touchMark != c.touchEpoch {
		q.touchMark = c.touchEpoch
		c.touched = append(c.touched, q)
	}
}

// dispatchTouched offers ready messages of the touched queues to their
// consumers, in queue name order so that the interleaving of deliveries
// across queues is a function of the state alone.
func (c *Core) dispatchTouched() {
	sortQueuesByName(c.touched)
	// dispatch never touches new queues, so the list is stable.
	for _, q := range c.touched {
		if c.queues[q.name] == q {
			c.dispatch(q)
		}
	}
}

// sortQueuesByName sorts a list of queues in place: insertion sort when
// it is short (nearly always one or two queues; no allocation, no
// closure), an O(n log n) sort beyond, since one Close, Writable or
// multiple ack can touch every queue its connection consumes from.
func sortQueuesByName(qs []*queue) {
	if len(qs) > 8 {
		slices.SortFunc(qs, func(a, b *queue) int { return strings.Compare(a.name, b.name) })
		return
	}
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0 && qs[j].name < qs[j-1].name; j-- {
			qs[j], qs[j-1] = qs[j-1], qs[j]
		}
	}
}
