package broker

import (
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/broker/record"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// persistState is the core's side of durability. The core never touches a
// disk: it emits the records to write (EffectPersist, each with a token),
// holds the confirms of publishes to durable queues until the driver
// reports their token durable (Persisted), and refuses durable publishes
// while the driver reports the storage failed.
type persistState struct {
	token   uint64 // last persist token issued
	nextSeq uint64 // next durable message number (record.Record.Seq)
	held    []heldOutcome
	heldAt  int    // held[:heldAt] already released
	failed  *Error // non-nil while durable storage is unusable
	// restoring: Restore is replaying the log into the core; nothing it
	// does is written again.
	restoring bool
}

type heldOutcome struct {
	token  uint64
	effect Effect
	cn     *connection // IDs may be reused after a close: match the very connection
}

// persistRecords emits records for the log and returns their token.
func (c *Core) persistRecords(recs ...record.Record) uint64 {
	if c.persist.restoring {
		return c.persist.token
	}
	c.persist.token++
	c.out = append(c.out, Effect{Kind: EffectPersist, Seq: c.persist.token, Records: recs})
	return c.persist.token
}

// emitOutcome emits a confirm or refusal, or holds it behind the
// connection's held outcomes (or, with durable, until the latest token is
// durable) so that a connection always sees its outcomes in publish order.
func (c *Core) emitOutcome(e Effect, durable bool) {
	cn := c.conns[e.Conn]
	if cn == nil || (!durable && cn.held == 0) {
		c.out = append(c.out, e)
		return
	}
	cn.held++
	c.persist.held = append(c.persist.held, heldOutcome{token: c.persist.token, effect: e, cn: cn})
}

// Persisted tells the core that every record of every EffectPersist with a
// token up to upTo is durable: the confirms waiting for them go out (in
// the order the publishes were made).
func (c *Core) Persisted(upTo uint64, now time.Time) {
	c.advance(now)
	p := &c.persist
	for p.heldAt < len(p.held) && p.held[p.heldAt].token <= upTo {
		c.release1(p.held[p.heldAt])
		p.held[p.heldAt] = heldOutcome{}
		p.heldAt++
	}
	c.compactHeld()
}

func (c *Core) release1(h heldOutcome) {
	if c.conns[h.effect.Conn] != h.cn {
		return // the connection closed; its publisher will retry elsewhere
	}
	h.cn.held--
	c.out = append(c.out, h.effect)
}

func (c *Core) compactHeld() {
	p := &c.persist
	if p.heldAt == len(p.held) {
		p.held, p.heldAt = p.held[:0], 0
	} else if p.heldAt > 1024 && p.heldAt*2 > len(p.held) {
		n := copy(p.held, p.held[p.heldAt:])
		clear(p.held[n:])
		p.held, p.heldAt = p.held[:n], 0
	}
}

// StorageFailed tells the core that durable storage cannot be written (a
// failed fsync, a full disk). From then on publishes to durable queues
// are refused (CodeUnavailable, "stored nothing": true, nothing is
// enqueued) until StorageRecovered; in-memory queues keep working.
//
// The outcomes still held for an fsync are NOT released, neither as
// confirms nor as refusals: their messages are enqueued in memory (some
// may already be delivered and processed), yet the broker cannot know
// whether their records reached the disk, so a confirm would promise a
// durability nobody has and a refusal would claim that nothing was stored
// (docs/protocol.md §7). Their outcome is unknown, and the only honest
// answer is none. StorageFailed returns the connections that had held
// outcomes and the reason to give them: the driver must close each one
// (protocol.Session.Shutdown with why.Code, CodeUnavailable, and why.Msg;
// driver.Loop.StorageFailed does it), so that its publisher reconnects
// and sends the unanswered publishes again at once instead of waiting for
// its confirm timeout. The retry is
// answered by the dedup window: while storage is failed, a duplicate
// routed to a durable queue is refused CodeUnavailable, which a publisher
// that sent the message more than once reports as indeterminate; after
// the operator's restart, a duplicate of a message that survived in the
// log is confirmed, and one that did not is published afresh. A
// connection whose held outcomes are dropped gets no further answer for
// them even if the driver leaves it open (a publisher's confirm timeout
// then resends), so no answer is ever a lie.
func (c *Core) StorageFailed(reason string, now time.Time) (closing []ConnID, why *Error) {
	c.advance(now)
	c.persist.failed = Errorf(CodeUnavailable, "durable storage failed (%s): publishes to durable queues are refused until an operator fixes the disk; in-memory queues still work", reason)
	why = Errorf(CodeUnavailable, "durable storage failed (%s): the outcome of your unconfirmed publishes is unknown; reconnect and send them again", reason)
	p := &c.persist
	for ; p.heldAt < len(p.held); p.heldAt++ {
		h := p.held[p.heldAt]
		if c.conns[h.effect.Conn] == h.cn && h.cn.held > 0 {
			// Dropped, not released: nothing of this connection goes out
			// behind an outcome that never will.
			h.cn.held = 0
			closing = append(closing, h.effect.Conn)
		}
		p.held[p.heldAt] = heldOutcome{}
	}
	c.compactHeld()
	return closing, why
}

// StorageRecovered lifts StorageFailed (the driver reopened its log).
func (c *Core) StorageRecovered() { c.persist.failed = nil }

// PendingPersist is the number of confirms and refusals waiting for
// Persisted.
func (c *Core) PendingPersist() int { return len(c.persist.held) - c.persist.heldAt }

func storeOptions(o QueueOptions) record.QueueOptions {
	return record.QueueOptions{
		MaxLength: int64(o.MaxLength), MaxBytes: o.MaxBytes, AckTimeout: o.AckTimeout,
		DeliveryLimit: int64(o.DeliveryLimit), DeadLetterQueue: o.DeadLetterQueue,
		Discard: o.Discard,
	}
}

// persistSettle records that m left its durable queue.
func (c *Core) persistSettle(m *message, outcome record.Outcome) {
	if m.storeSeq == 0 || !m.q.opts.Durable {
		return
	}
	c.persistRecords(record.Record{Type: record.RecSettle, Seq: m.storeSeq, Queue: m.q.name, Outcome: outcome})
	m.storeSeq = 0
}

// persistDelivered records one more delivery attempt of m.
func (c *Core) persistDelivered(m *message) {
	if m.storeSeq == 0 || !m.q.opts.Durable {
		return
	}
	c.persistRecords(record.Record{Type: record.RecDelivered, Seq: m.storeSeq, Queue: m.q.name})
}

// persistCopy writes m as a new message of its (durable) queue, for a copy
// that arrives by dead-lettering.
func (c *Core) persistCopy(m *message) {
	if !m.q.opts.Durable {
		return
	}
	c.persist.nextSeq++
	m.storeSeq = c.persist.nextSeq
	c.persistRecords(record.Record{
		Type: record.RecPublish, Seq: m.storeSeq, MessageID: m.id, Exchange: m.exchange, Key: m.routingKey,
		BodyPrefix: m.prefix.Bytes(), Body: m.body, Targets: []record.Target{{Queue: m.q.name}},
		Reason: uint8(m.reason),
	})
}

// persistBinding writes a binding to a durable queue, and its exchange the
// first time.
func (c *Core) persistBinding(ex *exchange, q *queue, key string) {
	if !q.opts.Durable {
		return
	}
	recs := make([]record.Record, 0, 2)
	if !ex.durable {
		ex.durable = true
		recs = append(recs, record.Record{Type: record.RecDeclareExchange, Exchange: ex.name, ExchangeType: uint8(ex.typ)})
	}
	recs = append(recs, record.Record{Type: record.RecBind, Exchange: ex.name, Queue: q.name, Key: key})
	c.persistRecords(recs...)
}

// Restore builds a core from what the durable log held: the durable
// exchanges, queues and bindings, every queue's messages in enqueue order
// (ready; redelivered if they were delivered before), and the dedup
// window, then the default topology (unless cfg.NoDefaults), durable: a
// broker with a log keeps default_queue on disk too. read returns a
// message's contents (wal.Store.ReadMessage). Nothing restored is
// written to the log again; the defaults are written on the first start
// only (declaring them again with the same options writes nothing).
func Restore(cfg Config, rec *record.Recovered, read func(seq uint64) (record.Message, error), now time.Time) (*Core, error) {
	bare := cfg
	bare.NoDefaults = true
	c := New(bare)
	c.cfg.NoDefaults = cfg.NoDefaults
	c.advance(now)
	c.persist.restoring = true
	defer func() { c.persist.restoring = false }()
	for _, e := range rec.Exchanges {
		if err := c.DeclareExchange(e.Name, ExchangeType(e.Type)); err != nil {
			return nil, fmt.Errorf("restore exchange %q: %w", e.Name, err)
		}
		c.exchanges[e.Name].durable = true
	}
	// Dead-letter queues must exist before the queues naming them.
	pending := rec.Queues
	for len(pending) > 0 {
		var later []record.Queue
		for _, q := range pending {
			o := q.Options
			if o.DeadLetterQueue != "" && c.queues[o.DeadLetterQueue] == nil && containsQueue(pending, o.DeadLetterQueue) {
				later = append(later, q)
				continue
			}
			opts := QueueOptions{MaxLength: int(o.MaxLength), MaxBytes: o.MaxBytes, AckTimeout: o.AckTimeout,
				DeliveryLimit: int(o.DeliveryLimit), DeadLetterQueue: o.DeadLetterQueue, Discard: o.Discard, Durable: true}
			if err := c.DeclareQueue(q.Name, opts); err != nil {
				return nil, fmt.Errorf("restore queue %q: %w", q.Name, err)
			}
		}
		if len(later) == len(pending) {
			return nil, fmt.Errorf("restore: dead-letter queues form a cycle among %d queues", len(later))
		}
		pending = later
	}
	// Bindings accepted before MaxTopicStates existed are restored as they
	// were: refusing one would lose it.
	c.restoring = true
	for _, b := range rec.Bindings {
		if err := c.Bind(b.Exchange, b.Queue, b.Key); err != nil {
			return nil, fmt.Errorf("restore binding %s -> %s (%q): %w", b.Exchange, b.Queue, b.Key, err)
		}
	}
	c.restoring = false
	for _, qm := range rec.Messages {
		q := c.queues[qm.Queue]
		if q == nil {
			return nil, fmt.Errorf("restore: the log holds messages for queue %q, which it never declared", qm.Queue)
		}
		refs := qm.Messages
		if cfg.Mutations.RestoreDropsNewest && len(refs) > 0 {
			refs = refs[:len(refs)-1] // MUTATION: one record short
		}
		for _, ref := range refs {
			msg, err := read(ref.Seq)
			if err != nil {
				return nil, fmt.Errorf("restore message %d of queue %q: %w", ref.Seq, qm.Queue, err)
			}
			id, rk, body := copyMessage([]byte(msg.ID), []byte(msg.RoutingKey), msg.Body)
			m := c.newMessage()
			m.id, m.exchange, m.routingKey, m.body = id, msg.Exchange, rk, body
			m.q = q
			q.seq++
			m.seq = q.seq
			m.storeSeq = ref.Seq
			m.deliveries = ref.Deliveries
			m.redelivered = ref.Deliveries > 0
			m.reason = wire.RejectReason(msg.Reason)
			m.state = stateReady
			q.ready.pushBack(m)
			q.bytes += int64(len(body))
			c.memHold(m)
		}
	}
	for _, d := range rec.Dedup {
		if !c.dedup.enabled() || cfg.Mutations.ForgetDedupOnRestore {
			break
		}
		w := c.dedup.of(userOfMaterial(d.ID))
		if k := keyOf([]byte(d.ID)); !w.ids.contains(k) {
			w.record(k, time.Unix(0, d.Time))
		}
	}
	c.dedup.expire(c.now)
	c.persist.nextSeq = max(rec.NextSeq, 1) - 1
	if !cfg.NoDefaults {
		c.persist.restoring = false
		if err := c.declareDurableDefaults(); err != nil {
			return nil, fmt.Errorf("restore: the default topology: %w", err)
		}
	}
	return c, nil
}

// declareDurableDefaults declares the seed protocol's topology as New does,
// with default_queue and its dead-letter queue durable (and so its binding
// and default_exchange).
//
// A default queue the log already holds is kept as it is, whatever its
// options: a log written by an older version (default_queue without its
// dead-letter queue, say) must restore, not fail on a mismatch.
func (c *Core) declareDurableDefaults() error {
	declare := func(name string, opts QueueOptions) error {
		if c.queues[name] != nil {
			return nil
		}
		return c.DeclareQueue(name, opts)
	}
	for _, err := range []error{
		c.DeclareExchange(DefaultExchange, Direct),
		declare(DefaultDeadLetterQueue, QueueOptions{Durable: true}),
		declare(DefaultQueue, QueueOptions{Durable: true, DeadLetterQueue: DefaultDeadLetterQueue}),
		c.Bind(DefaultExchange, DefaultQueue, DefaultRoutingKey),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func containsQueue(qs []record.Queue, name string) bool {
	for _, q := range qs {
		if q.Name == name {
			return true
		}
	}
	return false
}

// persistPublish writes one accepted publish: one record naming every
// durable target queue (in name order), and its dedup entry (the id's
// scoped key material, see dedupScopes.material).
func (c *Core) persistPublish(seq uint64, id, exchange, key string, prefix *Prefix, body []byte, targets []*queue, dedupMaterial []byte) {
	tq := make([]record.Target, 0, len(targets))
	for _, q := range targets {
		if q.opts.Durable {
			tq = append(tq, record.Target{Queue: q.name})
		}
	}
	recs := []record.Record{{Type: record.RecPublish, Seq: seq, MessageID: id, Exchange: exchange, Key: key, BodyPrefix: prefix.Bytes(), Body: body, Targets: tq}}
	if c.dedup.enabled() {
		recs = append(recs, record.Record{Type: record.RecDedup, MessageID: string(dedupMaterial), Time: c.now.UnixNano()})
	}
	c.persistRecords(recs...)
}

// checkHeld verifies the held outcomes: tokens never decrease, none is
// above the last token issued, and every open connection's held count is
// the number of its entries (for CheckInvariants).
func (c *Core) checkHeld(ids []ConnID) error {
	p := &c.persist
	perConn := map[*connection]int{}
	var last uint64
	for i, h := range p.held[p.heldAt:] {
		if h.token < last || h.token > p.token {
			return fmt.Errorf("held outcome %d: token %d out of order (previous %d, last issued %d)", i, h.token, last, p.token)
		}
		last = h.token
		perConn[h.cn]++
	}
	for _, id := range ids {
		cn := c.conns[id]
		if cn.held != perConn[cn] {
			return fmt.Errorf("connection %d counts %d held outcomes, the queue has %d", id, cn.held, perConn[cn])
		}
	}
	return nil
}
