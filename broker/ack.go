package broker

import (
	"time"

	"github.com/ciphermq/ciphermq/broker/record"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Ack settles the delivery tag of conn (or, with multiple, every outstanding
// delivery whose tag is <= tag): the messages leave their queues for good.
// A tag that is not outstanding (never issued, already settled, or requeued
// since by an ack timeout) is refused with CodeUnknownDeliveryTag and
// nothing is applied.
func (c *Core) Ack(conn ConnID, tag uint64, multiple bool, now time.Time) error {
	c.advance(now)
	ms, err := c.settling(conn, tag, multiple)
	if err != nil {
		return err
	}
	c.beginTouch()
	for _, m := range ms {
		c.release(m)
		m.q.c.acked++
		c.persistSettle(m, record.Acked)
		c.drop(m)
	}
	c.scratch = clearMessages(ms)
	c.dispatchTouched()
	return nil
}

// Nack settles like Ack but the messages are not done: with requeue they go
// back to the head of their queue (Redelivered; past the queue's delivery
// limit they are dead-lettered instead), without requeue they are
// dead-lettered.
func (c *Core) Nack(conn ConnID, tag uint64, multiple, requeue bool, now time.Time) error {
	return c.NackReason(conn, tag, multiple, requeue, wire.ReasonNone, now)
}

// NackReason is Nack with the reason the client gave for dead-lettering
// (wire.ReasonNone: none); the dead-lettered copies keep it. A reason with
// requeue is refused (a requeued message past its delivery limit is
// dead-lettered with wire.ReasonDeliveryLimit), as is a reason outside the
// table. With multiple, the one reason goes to every delivery settled (a
// frame says one thing; a client with different reasons rejects each
// delivery on its own, as the Go library does).
func (c *Core) NackReason(conn ConnID, tag uint64, multiple, requeue bool, reason wire.RejectReason, now time.Time) error {
	if reason != wire.ReasonNone && (requeue || !reason.Known() || reason == wire.ReasonDeliveryLimit) {
		return Errorf(CodeInvalidArgument, "reject reason %v cannot be given here: only a dead-lettering nack or reject has one, and delivery-limit is the broker's own", reason)
	}
	c.advance(now)
	ms, err := c.settling(conn, tag, multiple)
	if err != nil {
		return err
	}
	c.beginTouch()
	for _, m := range ms {
		c.release(m)
	}
	if requeue {
		c.requeue(ms)
	} else {
		for _, m := range ms {
			c.deadLetter(m, reason)
		}
	}
	c.scratch = clearMessages(ms)
	c.dispatchTouched()
	return nil
}

// Reject dead-letters one delivery (Nack without requeue, single tag).
func (c *Core) Reject(conn ConnID, tag uint64, now time.Time) error {
	return c.NackReason(conn, tag, false, false, wire.ReasonNone, now)
}

// RejectReason is Reject with the reason the client gave (see NackReason).
func (c *Core) RejectReason(conn ConnID, tag uint64, reason wire.RejectReason, now time.Time) error {
	return c.NackReason(conn, tag, false, false, reason, now)
}

// settling resolves the deliveries an ack/nack/reject names, in tag order,
// into c.scratch, or refuses without changing anything.
func (c *Core) settling(conn ConnID, tag uint64, multiple bool) ([]*message, error) {
	cn, err := c.conn(conn)
	if err != nil {
		return nil, err
	}
	if tag == 0 || tag > cn.lastTag {
		return nil, Errorf(CodeUnknownDeliveryTag, "delivery tag %d was never issued on this connection: ack only tags received in deliveries", tag)
	}
	ms := c.scratch[:0]
	if multiple {
		if c.cfg.Mutations.AckMultipleOverreach {
			tag = cn.lastTag // MUTATION: beyond the tag the client named
		}
		ms = cn.appendUpTo(tag, ms)
		if len(ms) == 0 {
			return nil, Errorf(CodeUnknownDeliveryTag, "no delivery up to tag %d is outstanding on this connection: they were settled or requeued already", tag)
		}
	} else {
		m := cn.find(tag)
		if m == nil {
			return nil, Errorf(CodeUnknownDeliveryTag, "delivery tag %d is not outstanding on this connection: it was settled already or requeued after an ack timeout", tag)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func clearMessages(ms []*message) []*message {
	clear(ms)
	return ms[:0]
}
