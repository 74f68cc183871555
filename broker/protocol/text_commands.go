package protocol

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// handleLine runs one text command. wire.ParseCommand does the parsing and
// the wire.AppendReply* helpers the exact reference wording (seed protocol
// §3); this file decides what each command does to the core.
func (t *Text) handleLine(line []byte, now time.Time) {
	cmd := &t.cmd
	if err := wire.ParseCommandInto(line, cmd); err != nil {
		t.reply(wire.AppendErrorReply(t.scratch[:0], err))
		return
	}
	switch cmd.Verb {
	case wire.TextDeclareQueue:
		t.declareQueue(string(cmd.Queue))
	case wire.TextDeclareExchange:
		t.declareExchange(string(cmd.Exchange), broker.ExchangeType(cmd.ExchangeType), cmd.ExchangeTypeSet)
	case wire.TextBind:
		t.bind(string(cmd.BindArgs[0]), string(cmd.BindArgs[1]), string(cmd.BindArgs[2]))
	case wire.TextPublish:
		r := &textReply{lines: make([][]byte, 1), waiting: 1}
		t.replies = append(t.replies, r)
		t.submit(r, 0, cmd.Exchange, cmd.RoutingKey, cmd.MessageID, cmd.Body, false, now)
	case wire.TextPublishBatch:
		// Every line is counted as waiting before the first submit, so an
		// effect that arrives synchronously cannot complete the reply early.
		r := &textReply{lines: make([][]byte, len(cmd.Batch)), waiting: len(cmd.Batch)}
		t.replies = append(t.replies, r)
		for i, m := range cmd.Batch {
			t.submit(r, i, cmd.Exchange, cmd.RoutingKey, m.MessageID, m.Body, true, now)
		}
	case wire.TextConsume:
		t.consume(string(cmd.Queue), now)
	case wire.TextFetch:
		t.fetch(string(cmd.Queue), now)
	case wire.TextAck:
		t.ack(string(cmd.MessageID), now)
	case wire.TextStats:
		t.stats()
	case wire.TextResetStats:
		// Counters are cumulative so that monitoring never sees them jump
		// back; the reference's reset is refused with a reason.
		t.reply(wire.AppendReplyError(t.scratch[:0], "reset_stats is not supported: statistics are cumulative since server start"))
	default:
		t.reply(wire.AppendReplyUnknownCommand(t.scratch[:0]))
	}
}

// declareQueue creates the queue if absent, as the reference does: an
// existing queue is fine whatever its options.
func (t *Text) declareQueue(q string) {
	if e := t.g.id.DeclareQueue(q, ""); e != nil {
		t.denied(e)
		return
	}
	if qq := t.g.q(q); !t.core.QueueExists(qq) {
		if err := t.core.DeclareQueueAs(t.g.owner, qq, broker.QueueOptions{}); err != nil {
			t.log.Debug("declare_queue refused", "queue", q, "err", err)
			t.reply(wire.AppendReplyError(t.scratch[:0], messageOf(err)))
			return
		}
	}
	t.reply(wire.AppendReplyQueueDeclared(t.scratch[:0]))
}

// declareExchange creates the exchange if absent. With an explicit type
// (our extension) a redeclaration with another type is refused by the core.
func (t *Text) declareExchange(x string, typ broker.ExchangeType, explicitType bool) {
	if e := t.g.id.DeclareExchange(x); e != nil {
		t.denied(e)
		return
	}
	if qx := t.g.q(x); explicitType || !t.core.ExchangeExists(qx) {
		if err := t.core.DeclareExchangeAs(t.g.owner, qx, typ); err != nil {
			t.log.Debug("declare_exchange refused", "exchange", x, "err", err)
			t.reply(wire.AppendReplyError(t.scratch[:0], messageOf(err)))
			return
		}
	}
	t.reply(wire.AppendReplyExchangeDeclared(t.scratch[:0]))
}

// bind accepts both argument orders of the two reference generations:
// "bind <exchange> <queue> <key>" (9bc8b23) and "bind <queue> <exchange>
// <key>" (0bcf2a7), deciding by which argument names a declared exchange.
// Like the reference it answers "Queue bound" even when nothing could be
// bound; the refusal is logged as a warning.
func (t *Text) bind(a, b, key string) {
	exchange, queue := a, b
	// Only exchanges the user may see decide the order, so which resource a
	// refusal names cannot tell whether another user's exchange exists.
	known := func(x string) bool { return t.g.id.SeeExchange(x) && t.core.ExchangeExists(t.g.q(x)) }
	if !known(a) && known(b) {
		exchange, queue = b, a
	}
	if e := t.g.id.Bind(exchange, queue); e != nil {
		t.denied(e)
		return
	}
	if err := t.core.BindAs(t.g.owner, t.g.q(exchange), t.g.q(queue), key); err != nil {
		t.log.Warn("bind refused; answering 'Queue bound' as the reference does", "exchange", exchange, "queue", queue, "key", key, "err", err)
	}
	t.reply(wire.AppendReplyQueueBound(t.scratch[:0]))
}

// submit hands one envelope to the core; the reply line is filled in by
// resolvePublish when the confirm or refusal arrives.
func (t *Text) submit(r *textReply, index int, exchange, key, id, body []byte, batch bool, now time.Time) {
	t.nextSeq++
	seq := t.nextSeq
	t.pending[seq] = replySlot{reply: r, index: index, id: string(id), exchange: string(exchange), key: string(key), batch: batch}
	if t.mem.on {
		t.core.Refuse(t.conn, seq, ErrMemoryAlarm, now)
		return
	}
	if e := t.g.id.Publish(exchange); e != nil && !t.cfg.MutationSkipPublishPermission {
		t.core.Refuse(t.conn, seq, e, now)
		return
	}
	p := broker.Publish{Seq: seq, User: t.g.id.User, Exchange: t.g.qb(exchange), RoutingKey: key, MessageID: id, Body: body}
	t.core.Publish(t.conn, &p, now)
}

// resolvePublish fills the reply line of a confirmed or refused publish. A
// duplicate is confirmed with "ACK <id>" like a first publish: the reference
// Sender retries on a new connection after a lost ACK, and a duplicate
// refusal would make it report a delivered message as failed.
func (t *Text) resolvePublish(e broker.Effect) {
	slot, ok := t.pending[e.Seq]
	if !ok {
		t.log.Warn("text session: core effect for an unknown publish", "seq", e.Seq, "kind", e.Kind)
		return
	}
	delete(t.pending, e.Seq)
	var line []byte
	if e.Kind == broker.EffectConfirm {
		line = wire.AppendReplyAck(nil, []byte(slot.id))
	} else {
		t.log.Debug("publish refused", "message_id", slot.id, "err", e.Err)
		line = refusalLine(e.Err, slot)
	}
	slot.reply.lines[slot.index] = line
	slot.reply.waiting--
	t.flushReplies()
}

// refusalLine words a publish refusal as the reference does where it has a
// wording, "Error: <reason>" otherwise.
func refusalLine(err *broker.Error, slot replySlot) []byte {
	msg := "publish refused"
	code := broker.CodeInternal
	if err != nil {
		msg, code = err.Msg, err.Code
	}
	if slot.batch {
		if code == broker.CodeAccessRefused {
			msg = err.Error() // with its code, as every text access refusal
		}
		return wire.AppendReplyBatchError(nil, msg, []byte(slot.id))
	}
	switch code {
	case broker.CodeExchangeNotFound:
		return wire.AppendReplyExchangeNotFound(nil, []byte(slot.exchange))
	case broker.CodeNoRoute:
		return wire.AppendReplyNoBinding(nil, []byte(slot.key))
	case broker.CodeAccessRefused:
		// Worded as every other text access refusal (denied), code included.
		return wire.AppendReplyError(nil, err.Error())
	}
	return wire.AppendReplyError(nil, msg)
}

// consume registers a prefetch-1 consumer. Like the reference it answers
// "Subscribed to queue" even for a queue that does not exist (nothing is
// registered then; the refusal is logged as a warning).
func (t *Text) consume(q string, now time.Time) {
	if e := t.g.id.Consume(q); e != nil {
		t.denied(e)
		return
	}
	_, err := t.core.Consume(t.conn, broker.ConsumeOptions{
		Queue:      t.g.q(q),
		Prefetch:   1,
		AckTimeout: t.cfg.TextAckTimeout,
	}, now)
	if err != nil {
		t.log.Warn("consume refused; answering 'Subscribed to queue' as the reference does", "queue", q, "err", err)
	} else {
		t.consumers++
	}
	t.reply(wire.AppendReplySubscribed(t.scratch[:0]))
}

// fetch pops one message; it stays unacked until "ack <id>". An unknown
// queue answers "No messages", as the reference does.
func (t *Text) fetch(q string, now time.Time) {
	if e := t.g.id.Fetch(q); e != nil {
		t.denied(e)
		return
	}
	d, ok, err := t.core.Fetch(t.conn, t.g.q(q), now)
	switch {
	case err != nil && codeOf(err) != broker.CodeQueueNotFound:
		t.reply(wire.AppendReplyError(t.scratch[:0], messageOf(err)))
	case err != nil || !ok:
		t.reply(wire.AppendReplyNoMessages(t.scratch[:0]))
	default:
		t.pushed[d.MessageID] = d.Tag
		t.reply(wire.AppendReplyMessage(t.scratch[:0], []byte(d.MessageID), t.logicalBody(&d)))
	}
}

// ack acknowledges the delivery of message id on this connection. The reply
// is "ACK_CONFIRMED <id>" whatever happened: the reference Receiver re-acks
// duplicates and relies on it. A stale tag (the delivery timed out and was
// redelivered) is refused by the core and only logged.
func (t *Text) ack(id string, now time.Time) {
	acked := false
	if tag, ok := t.pushed[id]; ok {
		delete(t.pushed, id)
		if err := t.core.Ack(t.conn, tag, false, now); err != nil {
			t.log.Debug("ack refused (stale or already settled)", "message_id", id, "tag", tag, "err", err)
		} else {
			acked = true
		}
	}
	if !acked {
		// The client has processed this id: a held, not yet pushed
		// redelivery of the same message needs no push of its own.
		for i, d := range t.held {
			if d.MessageID == id {
				if err := t.core.Ack(t.conn, d.Tag, false, now); err != nil {
					t.log.Debug("ack of a held delivery refused", "message_id", id, "err", err)
				}
				t.held = append(t.held[:i], t.held[i+1:]...)
				break
			}
		}
	}
	if t.flightActive && t.flightID == id {
		t.flightActive = false
	}
	t.reply(wire.AppendReplyAckConfirmed(t.scratch[:0], []byte(id)))
}

// denied answers a command the text user may not run. The reference
// answers some refusals with success wordings ("Queue bound", "Subscribed
// to queue"); a permission refusal is never worded as a success.
func (t *Text) denied(e *broker.Error) {
	audit.Log(t.log, slog.LevelInfo, audit.AccessRefused, "text command refused: access refused", "user", t.g.id.User, "err", e.Msg)
	t.reply(wire.AppendReplyError(t.scratch[:0], e.Error()))
}

// stats answers "Stats: <json>" with the core's statistics as this
// connection's user may see them.
func (t *Text) stats() {
	req := wire.Stats{List: t.cmd.StatsList, After: string(t.cmd.StatsAfter), Resume: t.cmd.StatsResume}
	page, e := t.g.statsPage(t.core, MaxStatsEntries, req)
	if e != nil {
		t.reply(wire.AppendReplyError(t.scratch[:0], e.Msg))
		return
	}
	doc, err := json.Marshal(page)
	if err != nil {
		t.reply(wire.AppendReplyError(t.scratch[:0], "stats: "+err.Error()))
		return
	}
	t.reply(wire.AppendReplyStats(t.scratch[:0], doc))
}
