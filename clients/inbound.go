package clients

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
)

// inbound holds the reader goroutine's decode targets, reused frame after
// frame so decoding allocates nothing.
type inbound struct {
	confirm    wire.Confirm
	dup        wire.ConfirmDup
	nack       wire.Nack
	deliver    wire.Deliver
	deliverRef wire.DeliverRef
	prefix     wire.Prefix
	ackRefused wire.AckRefused
	ok         wire.OK
	errFrame   wire.Error
	consumeOK  wire.ConsumeOK
	statsOK    wire.StatsOK
	fetchOK    wire.FetchOK
	fetchEmpty wire.FetchEmpty
	cancelled  wire.Cancelled
	close      wire.Close
	touched    []*Publisher
}

func newInbound() *inbound { return &inbound{} }

// dispatch applies frame typ, and every further frame the reader already
// holds whole, under one acquisition of the connection's lock: a read of
// 100 deliveries costs one lock, not 100. It never blocks on the socket
// while holding the lock (wire.Reader.FrameBuffered). A frame that does not
// decode ends the session: the stream can no longer be trusted.
func (c *Conn) dispatch(s *session, in *inbound, typ wire.FrameType, payload []byte) error {
	now := time.Now()
	c.mu.Lock()
	defer func() {
		if c.sess == s && len(s.wbuf) > 0 {
			s.wakeLocked()
		}
		c.unlock()
	}()
	for {
		if c.sess != s {
			return nil // frames of a session already given up
		}
		if err := c.applyLocked(s, in, typ, payload, now); err != nil {
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

// applyLocked decodes one frame and applies it. c.mu held.
func (c *Conn) applyLocked(s *session, in *inbound, typ wire.FrameType, payload []byte, now time.Time) error {
	var err error
	switch typ {
	case wire.FrameConfirm:
		err = wire.DecodeConfirm(payload, &in.confirm)
	case wire.FrameConfirmDup:
		err = wire.DecodeConfirmDup(payload, &in.dup)
	case wire.FrameNack:
		err = wire.DecodeNack(payload, &in.nack)
	case wire.FrameDeliver:
		err = wire.DecodeDeliver(payload, &in.deliver)
	case wire.FrameDeliverRef:
		err = wire.DecodeDeliverRef(payload, &in.deliverRef)
	case wire.FramePrefix:
		err = wire.DecodePrefix(payload, &in.prefix)
	case wire.FrameAckRefused:
		err = wire.DecodeAckRefused(payload, &in.ackRefused)
	case wire.FrameOK:
		err = wire.DecodeOK(payload, &in.ok)
	case wire.FrameError:
		err = wire.DecodeErrorFrame(payload, &in.errFrame)
	case wire.FrameConsumeOK:
		err = wire.DecodeConsumeOK(payload, &in.consumeOK)
	case wire.FrameStatsOK:
		err = wire.DecodeStatsOK(payload, &in.statsOK)
	case wire.FrameFetchOK:
		err = wire.DecodeFetchOK(payload, &in.fetchOK)
	case wire.FrameFetchEmpty:
		err = wire.DecodeFetchEmpty(payload, &in.fetchEmpty)
	case wire.FrameCancelled:
		err = wire.DecodeCancelled(payload, &in.cancelled)
	case wire.FrameClose:
		err = wire.DecodeClose(payload, &in.close)
	case wire.FrameHeartbeat:
		return nil
	case wire.FrameBlocked, wire.FrameUnblocked:
		return c.handleAlarmLocked(s, typ, payload)
	default:
		c.log.Warn("ignoring a frame the broker should not send to a client", "type", typ)
		return nil
	}
	if err != nil {
		return fmt.Errorf("decode %s from broker: %w", typ, err)
	}
	switch typ {
	case wire.FrameConfirm:
		c.handleConfirmLocked(in, now)
	case wire.FrameConfirmDup:
		if ref, ok := c.takeSeqLocked(in.dup.Seq); ok {
			ref.pub.eng.HandleConfirmDup(wire.ConfirmDup{Seq: ref.local, Durable: in.dup.Durable})
			ref.pub.pumpLocked(now)
		}
	case wire.FrameNack:
		if ref, ok := c.takeSeqLocked(in.nack.Seq); ok {
			ref.pub.eng.HandleNack(wire.Nack{Seq: ref.local, Code: in.nack.Code, Reason: in.nack.Reason})
			ref.pub.pumpLocked(now)
		}
	case wire.FrameDeliver:
		c.handleDeliverLocked(s, &in.deliver, nil)
	case wire.FrameDeliverRef:
		if !s.prefixes {
			return fmt.Errorf("broker sent DeliverRef on a connection without shared prefixes")
		}
		pre, err := s.inPre.Lookup(in.deliverRef.PrefixID)
		if err != nil {
			return fmt.Errorf("broker's DeliverRef: %w", err)
		}
		c.handleDeliverLocked(s, &in.deliverRef.Deliver, pre)
	case wire.FramePrefix:
		if !s.prefixes {
			return fmt.Errorf("broker sent Prefix on a connection without shared prefixes")
		}
		// Only the next id is taken: a repeated or skipped id is a broker
		// bug that could attach the wrong bytes to later deliveries, and
		// ends the session. The payload is the reader's buffer: cloned.
		if err := s.inPre.Define(in.prefix.ID, slices.Clone(in.prefix.Bytes)); err != nil {
			return fmt.Errorf("broker violated the protocol (code 104) with its Prefix: %w", err)
		}
	case wire.FrameAckRefused:
		c.cons.HandleAckRefused(in.ackRefused)
		c.log.Debug("broker refused a settlement (the delivery was requeued since)",
			"tag", in.ackRefused.DeliveryTag, "code", in.ackRefused.Code, "reason", in.ackRefused.Reason)
	case wire.FrameOK:
		c.answerLocked(in.ok.ReqID, reply{count: in.ok.Count})
	case wire.FrameConsumeOK:
		c.answerLocked(in.consumeOK.ReqID, reply{tag: in.consumeOK.ConsumerTag})
	case wire.FrameStatsOK:
		c.answerLocked(in.statsOK.ReqID, reply{json: slices.Clone(in.statsOK.JSON)})
	case wire.FrameFetchOK:
		dl := c.handleFetchedLocked(s, &in.fetchOK.Deliver)
		if _, waiting := c.reqs[in.fetchOK.ReqID]; !waiting && dl != nil {
			// Its Fetch gave up waiting: back to the queue.
			dl.settled = true
			_ = c.cons.Settle(dl.ref, engine.Transient)
			c.flushSettlementsLocked(s)
		}
		c.answerLocked(in.fetchOK.ReqID, reply{fetched: dl})
	case wire.FrameFetchEmpty:
		c.answerLocked(in.fetchEmpty.ReqID, reply{empty: true})
	case wire.FrameError:
		e := in.errFrame
		if e.ReqID == 0 {
			be := &BrokerError{Op: "connection", Code: e.Code, Reason: e.Message}
			c.log.Error("broker reported a connection error", "code", e.Code, "reason", e.Message)
			return be
		}
		c.answerLocked(e.ReqID, reply{err: &BrokerError{Code: e.Code, Reason: e.Message}})
	case wire.FrameCancelled:
		if cs, ok := c.consumers[in.cancelled.ConsumerTag]; ok {
			c.log.Warn("broker ended a consumer", "consumer", cs.tag, "queue", cs.opts.Queue, "reason", in.cancelled.Reason)
			delete(c.consumers, cs.tag)
			c.updatePrefetchLocked()
			go cs.end(fmt.Errorf("%w by the broker: %s", ErrConsumerEnded, in.cancelled.Reason))
		}
	case wire.FrameClose:
		if c.closed {
			// The broker's answer to our own Close: expected, not news.
			c.log.Debug("broker closed the connection", "code", in.close.Code, "reason", in.close.Reason)
		} else {
			c.log.Warn("broker is closing the connection", "code", in.close.Code, "reason", in.close.Reason)
		}
		return &BrokerError{Op: "connection", Code: in.close.Code, Reason: in.close.Reason}
	}
	return nil
}

// handleConfirmLocked maps a range of connection sequence numbers onto the
// publishers that sent them, as runs of consecutive engine numbers.
func (c *Conn) handleConfirmLocked(in *inbound, now time.Time) {
	f, l := in.confirm.First, in.confirm.Last
	if f == 0 || f > l {
		return
	}
	lo, hi, ok := c.seqOwner.span(f, l)
	if !ok {
		return
	}
	touched := in.touched[:0]
	var run seqRef
	var runLast uint64
	flush := func() {
		if run.pub != nil {
			run.pub.eng.HandleConfirm(wire.Confirm{First: run.local, Last: runLast, Durable: in.confirm.Durable})
		}
	}
	for s := lo; ; s++ {
		if ref, ok := c.seqOwner.take(s); ok {
			if ref.pub == run.pub && ref.local == runLast+1 {
				runLast = ref.local
			} else {
				flush()
				run, runLast = ref, ref.local
				if !slices.Contains(touched, ref.pub) {
					touched = append(touched, ref.pub)
				}
			}
		}
		if s == hi {
			break
		}
	}
	flush()
	for i, p := range touched {
		p.pumpLocked(now)
		touched[i] = nil
	}
	in.touched = touched[:0]
}

func (c *Conn) takeSeqLocked(seq uint64) (seqRef, bool) {
	return c.seqOwner.take(seq)
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
	for _, st := range c.cons.Poll() {
		if !s.reasons {
			st.Reason = wire.ReasonNone
		}
		s.wbuf = st.AppendTo(s.wbuf)
	}
	if len(s.wbuf) > 0 {
		s.wakeLocked()
	}
}
