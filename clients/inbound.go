package clients

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
)

// dispatch applies frame typ, and every further frame the reader already
// holds whole, under one acquisition of the connection's lock: a read of
// 100 deliveries costs one lock, not 100. It never blocks on the socket
// while holding the lock (wire.Reader.FrameBuffered). A frame that does not
// decode ends the session: the stream can no longer be trusted.
func (c *Conn) dispatch(s *session, typ wire.FrameType, payload []byte) error {
	now := time.Now()
	c.mu.Lock()
	defer func() {
		if c.sess == s && len(c.eng.Output()) > 0 {
			s.wakeLocked()
		}
		c.unlock()
	}()
	for {
		if c.sess != s {
			return nil // frames of a session already given up
		}
		if err := c.applyLocked(s, typ, payload, now); err != nil {
			return err
		}
		for {
			if !s.r.FrameBuffered() {
				return nil
			}
			var err error
			typ, payload, err = s.r.ReadFrame()
			if err == nil {
				break
			}
			if !errors.Is(err, wire.ErrUnknownFrameType) {
				return fmt.Errorf("read from broker: %w", err)
			}
			c.log.Warn("ignoring a frame of unknown type from the broker", "type", typ)
		}
	}
}

// applyLocked hands one frame to the engine and acts on what it meant.
// c.mu held.
func (c *Conn) applyLocked(s *session, typ wire.FrameType, payload []byte, now time.Time) error {
	ev := c.eng.Receive(typ, payload, now)
	switch ev.Kind {
	case engine.EventUnexpected:
		c.log.Warn("ignoring a frame the broker should not send to a client", "type", typ)
	case engine.EventAnswered:
		for _, ep := range ev.Publishers {
			if p := c.pubs[ep]; p != nil {
				p.pumpLocked(now)
			}
		}
	case engine.EventDeliver:
		c.handleDeliverLocked(s, ev.Deliver, ev.Prefix)
	case engine.EventAckRefused:
		c.log.Debug("broker refused a settlement (the delivery was requeued since)",
			"tag", ev.DeliveryTag, "code", ev.Code, "reason", ev.Reason)
	case engine.EventBlocked:
		c.log.Info("broker blocked publishing (memory alarm); publishes wait until it unblocks", "session", s.epoch, "reason", ev.Reason)
	case engine.EventUnblocked:
		c.log.Info("broker unblocked publishing", "session", s.epoch)
	case engine.EventReply:
		c.replyLocked(s, &ev)
	case engine.EventCancelled:
		if cs, ok := c.consumers[ev.Tag]; ok {
			c.log.Warn("broker ended a consumer", "consumer", cs.tag, "queue", cs.opts.Queue, "reason", ev.Reason)
			delete(c.consumers, cs.tag)
			c.updatePrefetchLocked()
			go cs.end(fmt.Errorf("%w by the broker: %s", ErrConsumerEnded, ev.Reason))
		}
	case engine.EventClosed:
		switch {
		case ev.Err != nil:
			return ev.Err
		case typ == wire.FrameError:
			c.log.Error("broker reported a connection error", "code", ev.Code, "reason", ev.Reason)
		case c.closed:
			// The broker's answer to our own Close: expected, not news.
			c.log.Debug("broker closed the connection", "code", ev.Code, "reason", ev.Reason)
		default:
			c.log.Warn("broker is closing the connection", "code", ev.Code, "reason", ev.Reason)
		}
		return &BrokerError{Op: "connection", Code: ev.Code, Reason: ev.Reason}
	}
	return nil
}

// replyLocked hands the broker's answer to its request.
func (c *Conn) replyLocked(s *session, ev *engine.Event) {
	switch ev.Type {
	case wire.FrameOK:
		c.answerLocked(ev.ReqID, reply{count: ev.Count})
	case wire.FrameConsumeOK:
		c.answerLocked(ev.ReqID, reply{tag: ev.Tag})
	case wire.FrameStatsOK:
		c.answerLocked(ev.ReqID, reply{json: slices.Clone(ev.JSON)})
	case wire.FrameFetchOK:
		dl := c.handleFetchedLocked(s, ev.Deliver)
		if _, waiting := c.reqs[ev.ReqID]; !waiting && dl != nil {
			// Its Fetch gave up waiting: back to the queue.
			dl.settled = true
			_ = c.cons.Settle(dl.ref, engine.Transient)
			c.flushSettlementsLocked(s)
		}
		c.answerLocked(ev.ReqID, reply{fetched: dl})
	case wire.FrameFetchEmpty:
		c.answerLocked(ev.ReqID, reply{empty: true})
	case wire.FrameError:
		c.answerLocked(ev.ReqID, reply{err: &BrokerError{Code: ev.Code, Reason: ev.Reason}})
	}
}

// handleDeliverLocked runs a delivery through the connection's consumer
// engine and queues it for its consumer's handler when it is new.
func (c *Conn) handleDeliverLocked(s *session, d *wire.Deliver, prefix []byte) {
	cs := c.consumers[string(d.ConsumerTag)]
	var seen engine.SeenSet
	var dl *Delivery
	var ref engine.Ref
	var dec engine.Decision
	if cs != nil && !cs.stopped {
		// The Delivery is built first so that the engine can keep its id
		// string instead of making another; a duplicate wastes one.
		seen = cs.seen
		dl = c.fields.delivery(d, prefix, cs.opts.SplitPrefix)
		ref, dec = c.cons.HandleSeenID(d, dl.MessageID, seen)
	} else {
		if cs != nil {
			seen = cs.seen
		}
		ref, dec = c.cons.HandleSeen(d, seen)
	}
	switch dec {
	case engine.Process:
		if dl == nil {
			// Its consumer is gone: give the message back to the queue.
			_ = c.cons.Settle(ref, engine.Transient)
			c.flushSettlementsLocked(s)
			return
		}
		dl.ref, dl.cs, dl.conn = ref, cs, c
		cs.enqueueLocked(dl)
	case engine.AckDuplicate:
		if cs != nil {
			cs.duplicates.Add(1)
		}
		c.flushSettlementsLocked(s)
	}
}

// handleFetchedLocked runs a fetched message through the connection's
// consumer engine like a delivery: it is returned for the caller to settle
// (Delivery.Ack, Nack, Reject) if new, nil if the engine settles it itself
// (a twin of a delivery being handled right now, or a repeat).
func (c *Conn) handleFetchedLocked(s *session, d *wire.Deliver) *Delivery {
	dl := c.fields.delivery(d, nil, false)
	ref, dec := c.cons.HandleSeenID(d, dl.MessageID, nil)
	if dec != engine.Process {
		c.flushSettlementsLocked(s)
		return nil
	}
	dl.ref, dl.conn = ref, c
	return dl
}

// flushSettlementsLocked queues the consumer engine's ack, nack and reject
// frames on the session.
func (c *Conn) flushSettlementsLocked(s *session) {
	if c.sess != s {
		return
	}
	c.eng.FlushSettlements()
	if len(c.eng.Output()) > 0 {
		s.wakeLocked()
	}
}
