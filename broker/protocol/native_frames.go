package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// handleFrame dispatches one frame. A non-nil error means the session is
// closed; Output holds what must still be written.
func (n *Native) handleFrame(typ wire.FrameType, p []byte, now time.Time) error {
	switch n.state {
	case awaitHello:
		if typ != wire.FrameHello {
			return n.fail(0, broker.CodeProtocol, fmt.Errorf("expected Hello as the first frame, got %s", typ))
		}
		return n.hello(p, now)
	case awaitAuth:
		if typ != wire.FrameAuth {
			return n.fail(0, broker.CodeProtocol, fmt.Errorf("expected Auth after a Hello with the auth feature, got %s", typ))
		}
		return n.authFrame(p, now)
	case verifying:
		return n.fail(0, broker.CodeProtocol, fmt.Errorf("%s before authentication completed: wait for HelloOK", typ))
	}
	switch typ {
	case wire.FramePublish:
		f := &n.scratch.publish
		if err := wire.DecodePublish(p, f); err != nil {
			return n.malformed(err)
		}
		return n.publish(f, nil, now)
	case wire.FramePublishRef:
		f := &n.scratch.publishRef
		if err := wire.DecodePublishRef(p, f); err != nil {
			return n.malformed(err)
		}
		if !n.prefixes {
			return n.fail(0, broker.CodeProtocol, errors.New("PublishRef on a connection that did not negotiate shared prefixes"))
		}
		pre, err := n.inPrefixes.Lookup(f.PrefixID)
		if err != nil {
			return n.fail(0, broker.CodeProtocol, err)
		}
		return n.publish(&f.Publish, pre, now)
	case wire.FramePrefix:
		var f wire.Prefix
		if err := wire.DecodePrefix(p, &f); err != nil {
			return n.malformed(err)
		}
		return n.definePrefix(&f)
	case wire.FrameAck:
		f := &n.scratch.ack
		if err := wire.DecodeAck(p, f); err != nil {
			return n.malformed(err)
		}
		n.ackResult(f.DeliveryTag, n.core.Ack(n.conn, f.DeliveryTag, f.Multiple, now))
	case wire.FrameNackDelivery:
		var f wire.NackDelivery
		if err := wire.DecodeNackDelivery(p, &f); err != nil {
			return n.malformed(err)
		}
		if f.Reason != wire.ReasonNone && !n.reasons {
			return n.fail(0, broker.CodeProtocol, errors.New("NackDelivery with a reason on a connection that did not negotiate reject reasons"))
		}
		n.ackResult(f.DeliveryTag, n.core.NackReason(n.conn, f.DeliveryTag, f.Multiple, f.Requeue, f.Reason, now))
	case wire.FrameReject:
		var f wire.Reject
		if err := wire.DecodeReject(p, &f); err != nil {
			return n.malformed(err)
		}
		if f.Reason != wire.ReasonNone && !n.reasons {
			return n.fail(0, broker.CodeProtocol, errors.New("Reject with a reason on a connection that did not negotiate reject reasons"))
		}
		n.ackResult(f.DeliveryTag, n.core.RejectReason(n.conn, f.DeliveryTag, f.Reason, now))
	case wire.FrameHeartbeat:
		// lastRecv was refreshed by Feed; only the (empty) payload is checked.
		if err := wire.DecodeHeartbeat(p, nil); err != nil {
			return n.malformed(err)
		}
	case wire.FrameClose:
		var f wire.Close
		if err := wire.DecodeClose(p, &f); err != nil {
			return n.malformed(err)
		}
		n.log.Debug("client closed the connection", "code", f.Code, "reason", f.Reason)
		n.Shutdown(broker.CodeOK, "closed by client")
	case wire.FrameDeclareExchange:
		var f wire.DeclareExchange
		if err := wire.DecodeDeclareExchange(p, &f); err != nil {
			return n.malformed(err)
		}
		if e := n.g.id.DeclareExchange(f.Name); e != nil {
			n.denied(f.ReqID, e)
			break
		}
		n.result(f.ReqID, 0, n.core.DeclareExchangeAs(n.g.owner, n.g.q(f.Name), broker.ExchangeType(f.Type)))
	case wire.FrameDeleteExchange:
		var f wire.DeleteExchange
		if err := wire.DecodeDeleteExchange(p, &f); err != nil {
			return n.malformed(err)
		}
		if e := n.g.id.DeleteExchange(f.Name); e != nil {
			n.denied(f.ReqID, e)
			break
		}
		n.result(f.ReqID, 0, n.core.DeleteExchange(n.g.q(f.Name)))
	case wire.FrameDeclareQueue:
		var f wire.DeclareQueue
		if err := wire.DecodeDeclareQueue(p, &f); err != nil {
			return n.malformed(err)
		}
		if e := n.g.id.DeclareQueue(f.Name, f.DeadLetterQueue); e != nil {
			n.denied(f.ReqID, e)
			break
		}
		opts := queueOptions(&f)
		opts.DeadLetterQueue = n.g.q(opts.DeadLetterQueue)
		n.result(f.ReqID, 0, n.core.DeclareQueueAs(n.g.owner, n.g.q(f.Name), opts))
	case wire.FrameDeleteQueue:
		var f wire.DeleteQueue
		if err := wire.DecodeDeleteQueue(p, &f); err != nil {
			return n.malformed(err)
		}
		if e := n.g.id.DeleteQueue(f.Name); e != nil {
			n.denied(f.ReqID, e)
			break
		}
		discarded, err := n.core.DeleteQueue(n.g.q(f.Name), now)
		n.result(f.ReqID, uint64(max(discarded, 0)), err)
	case wire.FrameBind, wire.FrameUnbind:
		var f wire.Bind
		var err error
		if typ == wire.FrameBind {
			err = wire.DecodeBind(p, &f)
		} else {
			err = wire.DecodeUnbind(p, (*wire.Unbind)(&f))
		}
		if err != nil {
			return n.malformed(err)
		}
		if typ == wire.FrameBind {
			if e := n.g.id.Bind(f.Exchange, f.Queue); e != nil {
				n.denied(f.ReqID, e)
				break
			}
			err = n.core.BindAs(n.g.owner, n.g.q(f.Exchange), n.g.q(f.Queue), f.Key)
		} else {
			if e := n.g.id.Unbind(f.Exchange, f.Queue); e != nil {
				n.denied(f.ReqID, e)
				break
			}
			err = n.core.Unbind(n.g.q(f.Exchange), n.g.q(f.Queue), f.Key)
		}
		n.result(f.ReqID, 0, err)
	case wire.FrameConsume:
		var f wire.Consume
		if err := wire.DecodeConsume(p, &f); err != nil {
			return n.malformed(err)
		}
		n.consume(&f, now)
	case wire.FrameCancel:
		var f wire.Cancel
		if err := wire.DecodeCancel(p, &f); err != nil {
			return n.malformed(err)
		}
		n.result(f.ReqID, 0, n.core.Cancel(n.conn, f.ConsumerTag, now))
	case wire.FrameFetch:
		var f wire.Fetch
		if err := wire.DecodeFetch(p, &f); err != nil {
			return n.malformed(err)
		}
		n.fetch(&f, now)
	case wire.FrameStats:
		var f wire.Stats
		if err := wire.DecodeStats(p, &f); err != nil {
			return n.malformed(err)
		}
		if f.List != 0 && !n.statsCursor {
			return n.fail(0, broker.CodeProtocol, errors.New("Stats with a cursor on a connection that did not negotiate stats cursors"))
		}
		n.stats(&f)
	case wire.FrameHello:
		return n.fail(0, broker.CodeProtocol, errors.New("second Hello on an open connection"))
	case wire.FrameAuth:
		return n.fail(0, broker.CodeProtocol, errors.New("Auth on an authenticated connection"))
	default:
		if f, ok := wire.LookupFrame(typ); ok && !f.Dir.ClientSends() {
			return n.fail(0, broker.CodeProtocol, fmt.Errorf("frame %s is sent by servers only", typ))
		}
		return n.fail(0, broker.CodeUnknownCommand, &wire.UnknownFrameTypeError{Type: typ})
	}
	return nil
}

// publish hands one Publish (its logical body prefix ‖ f.Body) to the core.
func (n *Native) publish(f *wire.Publish, prefix *broker.Prefix, now time.Time) error {
	if f.Seq == 0 {
		return n.fail(0, broker.CodeInvalidArgument, errors.New("publish sequence numbers start at 1"))
	}
	if f.Seq <= n.lastSeq {
		// Sequence numbers increase on a connection, so this frame is a
		// copy (or a late, overtaken one) of a publish this session has
		// already answered or passed: handling it again could enqueue a
		// message whose publish was refused, or answer a seq twice.
		// Ignoring it is what a link that lost it would do; a publisher
		// still waiting resends under a new seq.
		n.stalePublishes++
		return nil
	}
	n.lastSeq = f.Seq
	n.lastID = append(n.lastID[:0], f.MessageID...)
	n.mem.published = true
	if e := n.g.id.Publish(f.Exchange); e != nil && !n.cfg.MutationSkipPublishPermission {
		n.core.Refuse(n.conn, f.Seq, e, now)
		return nil
	}
	cp := &n.scratch.corePub
	*cp = broker.Publish{Seq: f.Seq, User: n.g.id.User, Exchange: n.g.qb(f.Exchange), RoutingKey: f.RoutingKey, MessageID: f.MessageID, Prefix: prefix, Body: f.Body}
	n.core.Publish(n.conn, cp, now)
	return nil
}

// definePrefix records the client's next prefix definition. The bytes are
// copied once into an immutable broker.Prefix that every message published
// with it shares. An id other than the last + 1 is fatal: it can only be a
// client bug, and taking it could attach the wrong bytes to later messages.
func (n *Native) definePrefix(f *wire.Prefix) error {
	if !n.prefixes {
		return n.fail(0, broker.CodeProtocol, errors.New("Prefix on a connection that did not negotiate shared prefixes"))
	}
	n.mem.published = true
	if err := n.inPrefixes.Define(f.ID, broker.NewPrefix(f.Bytes)); err != nil {
		return n.fail(0, broker.CodeProtocol, err)
	}
	return nil
}

// malformed answers a frame that could not be decoded: the stream may be in
// sync, but a peer that sends garbage cannot be trusted with the rest.
func (n *Native) malformed(err error) error {
	return n.fail(0, broker.Code(wire.ErrorCode(err)), err)
}

// denied answers a request the identity may not make. It is logged at
// info: a stream of them is worth an operator's attention.
func (n *Native) denied(reqID uint64, e *broker.Error) {
	audit.Log(n.log, slog.LevelInfo, audit.AccessRefused, "request refused: access refused", "user", n.g.id.User, "vhost", n.g.id.Vhost, "remote", n.peer.Remote, "err", e.Msg)
	n.result(reqID, 0, e)
}

// result answers a request: OK on success, Error with the refusal's code.
func (n *Native) result(reqID, count uint64, err error) {
	if err != nil {
		n.log.Debug("request refused", "req", reqID, "err", err)
		n.out = wire.AppendError(n.out, &wire.Error{ReqID: reqID, Code: uint16(codeOf(err)), Message: messageOf(err)})
		return
	}
	n.out = wire.AppendOK(n.out, &wire.OK{ReqID: reqID, Count: count})
}

// ackResult reports a refused ack, nack or reject; success is silent.
func (n *Native) ackResult(tag uint64, err error) {
	if err == nil {
		return
	}
	n.log.Debug("ack refused", "tag", tag, "err", err)
	n.out = wire.AppendAckRefused(n.out, &wire.AckRefused{DeliveryTag: tag, Code: uint16(codeOf(err)), Reason: messageOf(err)})
}

func queueOptions(f *wire.DeclareQueue) broker.QueueOptions {
	return broker.QueueOptions{
		MaxLength:       clampInt(f.MaxLength),
		MaxBytes:        int64(min(f.MaxBytes, 1<<62)),
		AckTimeout:      millis(f.AckTimeoutMs),
		DeliveryLimit:   clampInt(f.DeliveryLimit),
		DeadLetterQueue: f.DeadLetterQueue,
		Durable:         f.Durable,
		Discard:         f.Discard,
	}
}

func (n *Native) consume(f *wire.Consume, now time.Time) {
	if e := n.g.id.Consume(f.Queue); e != nil {
		n.denied(f.ReqID, e)
		return
	}
	tag, err := n.core.Consume(n.conn, broker.ConsumeOptions{
		Queue:      n.g.q(f.Queue),
		Tag:        f.ConsumerTag,
		Prefetch:   clampInt(f.Prefetch),
		AckTimeout: millis(f.AckTimeoutMs),
	}, now)
	if err != nil {
		n.result(f.ReqID, 0, err)
		return
	}
	n.out = wire.AppendConsumeOK(n.out, &wire.ConsumeOK{ReqID: f.ReqID, ConsumerTag: tag})
}

func (n *Native) fetch(f *wire.Fetch, now time.Time) {
	if e := n.g.id.Fetch(f.Queue); e != nil {
		n.denied(f.ReqID, e)
		return
	}
	d, ok, err := n.core.Fetch(n.conn, n.g.q(f.Queue), now)
	switch {
	case err != nil:
		n.result(f.ReqID, 0, err)
	case !ok:
		n.out = wire.AppendFetchEmpty(n.out, &wire.FetchEmpty{ReqID: f.ReqID})
	default:
		n.out = wire.AppendFetchOKJoined(n.out, &wire.FetchOK{ReqID: f.ReqID, Deliver: *n.deliverFrame(&d)}, d.Prefix.Bytes())
	}
}

func (n *Native) stats(f *wire.Stats) {
	reqID := f.ReqID
	page, e := n.g.statsPage(n.core, MaxStatsEntries, *f)
	if e != nil {
		n.result(reqID, 0, e)
		return
	}
	doc, err := json.Marshal(page)
	if err != nil {
		n.result(reqID, 0, broker.Errorf(broker.CodeInternal, "encoding stats: %v", err))
		return
	}
	n.out = wire.AppendStatsOK(n.out, &wire.StatsOK{ReqID: reqID, JSON: doc})
}

// clampInt converts a wire count to int, saturating instead of wrapping.
func clampInt(v uint64) int {
	const maxInt = int(^uint(0) >> 1)
	if v > uint64(maxInt) {
		return maxInt
	}
	return int(v)
}

// millis converts a wire duration in milliseconds, saturating.
func millis(ms uint64) time.Duration {
	const maxMs = uint64(1<<63-1) / uint64(time.Millisecond)
	return time.Duration(min(ms, maxMs)) * time.Millisecond
}
