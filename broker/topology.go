package broker

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker/record"
)

// DeclareExchange creates an exchange. Declaring an existing exchange with
// the same type does nothing; with another type it is refused with
// CodeMismatch.
func (c *Core) DeclareExchange(name string, typ ExchangeType) error {
	return c.DeclareExchangeAs(Owner{}, name, typ)
}

// DeclareExchangeAs is DeclareExchange on behalf of owner: a new exchange
// counts against owner's exchange limit.
func (c *Core) DeclareExchangeAs(owner Owner, name string, typ ExchangeType) error {
	if e := validateName("exchange", name); e != nil {
		return e
	}
	if typ != Direct && typ != Fanout && typ != Topic {
		return Errorf(CodeInvalidArgument, "exchange type %d is unknown: use direct, fanout or topic", uint8(typ))
	}
	if ex := c.exchanges[name]; ex != nil {
		if ex.typ != typ {
			return Errorf(CodeMismatch, "exchange %q exists with type %s, not %s: delete it first or declare it as %s", shown(name), ex.typ, typ, ex.typ)
		}
		return nil
	}
	if len(c.exchanges) >= c.cfg.MaxExchanges {
		return Errorf(CodeResourceLimit, "the broker already has %d exchanges, its limit: delete some first", len(c.exchanges))
	}
	if e := overLimit(owner, "exchanges", c.Usage(owner.User).Exchanges, owner.Limits.Exchanges); e != nil {
		return e
	}
	ex := newExchange(name, typ)
	ex.owner = owner.User
	c.exchanges[name] = ex
	c.exchangeIndex.set(name, ex)
	if inDefaultVhost(name) {
		c.defaultExchanges.set(name, ex)
	}
	c.use(owner.User).Exchanges++
	return nil
}

// DeleteExchange deletes an exchange and all its bindings. The default
// exchange is reserved: the seed protocol's clients depend on it.
func (c *Core) DeleteExchange(name string) error {
	if name == DefaultExchange {
		return Errorf(CodeReserved, "exchange %q is reserved and cannot be deleted", shown(name))
	}
	ex := c.exchanges[name]
	if ex == nil {
		return Errorf(CodeExchangeNotFound, "exchange %q not found: nothing to delete", shown(name))
	}
	for bk, by := range ex.bindings {
		ex.unbind(bk.q, bk.key)
		c.nBindings--
		c.unuse(by, func(u *Usage) { u.Bindings-- })
	}
	delete(c.exchanges, name)
	c.exchangeIndex.delete(name)
	if inDefaultVhost(name) {
		c.defaultExchanges.delete(name)
	}
	c.unuse(ex.owner, func(u *Usage) { u.Exchanges-- })
	if ex.durable {
		c.persistRecords(record.Record{Type: record.RecDeleteExchange, Exchange: name})
	}
	return nil
}

// ExchangeExists reports whether the exchange is declared.
func (c *Core) ExchangeExists(name string) bool { return c.exchanges[name] != nil }

// QueueExists reports whether the queue is declared.
func (c *Core) QueueExists(name string) bool { return c.queues[name] != nil }

// DeclareQueue creates a queue. Declaring an existing queue with identical
// options does nothing; with other options it is refused with
// CodeMismatch. A dead-letter queue must already exist.
func (c *Core) DeclareQueue(name string, opts QueueOptions) error {
	return c.DeclareQueueAs(Owner{}, name, opts)
}

// DeclareQueueAs is DeclareQueue on behalf of owner: a new queue counts
// against owner's queue limit.
func (c *Core) DeclareQueueAs(owner Owner, name string, opts QueueOptions) error {
	if e := validateName("queue", name); e != nil {
		return e
	}
	if e := validateQueueOptions(opts); e != nil {
		return e
	}
	if q := c.queues[name]; q != nil {
		if q.opts != opts {
			return Errorf(CodeMismatch, "queue %q exists with options %+v, not %+v: delete it first or declare it with the same options", shown(name), q.opts, opts)
		}
		return nil
	}
	var dlq *queue
	if opts.DeadLetterQueue != "" {
		if dlq = c.queues[opts.DeadLetterQueue]; dlq == nil {
			return Errorf(CodeQueueNotFound, "dead-letter queue %q of queue %q not found: declare it first", shown(opts.DeadLetterQueue), shown(name))
		}
		if opts.Durable && !dlq.opts.Durable {
			return Errorf(CodeInvalidArgument, "durable queue %q cannot dead-letter into in-memory queue %q: declare the dead-letter queue durable", shown(name), shown(dlq.name))
		}
	}
	if opts.Durable && c.persist.failed != nil && !c.persist.restoring {
		return c.persist.failed
	}
	if len(c.queues) >= c.cfg.MaxQueues {
		return Errorf(CodeResourceLimit, "the broker already has %d queues, its limit: delete some first", len(c.queues))
	}
	if e := overLimit(owner, "queues", c.Usage(owner.User).Queues, owner.Limits.Queues); e != nil {
		return e
	}
	ackTimeout := opts.AckTimeout
	if ackTimeout == 0 {
		ackTimeout = c.cfg.DefaultAckTimeout
	}
	q := newQueue(name, opts, ackTimeout, dlq)
	q.owner = owner.User
	c.queues[name] = q
	c.queueIndex.set(name, q)
	if inDefaultVhost(name) {
		c.defaultQueues.set(name, q)
	}
	c.use(owner.User).Queues++
	if dlq != nil {
		dlq.dlqUsers++
	}
	if opts.Durable {
		c.persistRecords(record.Record{Type: record.RecDeclareQueue, Queue: name, QueueOptions: storeOptions(opts)})
	}
	return nil
}

func validateQueueOptions(o QueueOptions) *Error {
	switch {
	case o.MaxLength < 0:
		return Errorf(CodeInvalidArgument, "max length %d is negative: use 0 for no limit", o.MaxLength)
	case o.MaxBytes < 0:
		return Errorf(CodeInvalidArgument, "max bytes %d is negative: use 0 for no limit", o.MaxBytes)
	case o.AckTimeout < 0:
		return Errorf(CodeInvalidArgument, "ack timeout %v is negative: use 0 for the default", o.AckTimeout)
	case o.DeliveryLimit < 0:
		return Errorf(CodeInvalidArgument, "delivery limit %d is negative: use 0 for no limit", o.DeliveryLimit)
	}
	if o.Discard && o.DeadLetterQueue != "" {
		return Errorf(CodeInvalidArgument, "discard and dead-letter queue %q are exclusive: drop one", shown(o.DeadLetterQueue))
	}
	if o.DeadLetterQueue != "" {
		if e := validateName("dead-letter queue", o.DeadLetterQueue); e != nil {
			return e
		}
	}
	return nil
}

// DeleteQueue deletes a queue: its consumers are cancelled (an
// EffectCancelled each), its bindings removed, and the messages it held,
// ready and unacked, discarded; discarded says how many. Acks for its
// outstanding deliveries are refused afterwards. A queue still named as
// another queue's dead-letter queue is refused with CodeInUse.
func (c *Core) DeleteQueue(name string, now time.Time) (int, error) {
	c.advance(now)
	q := c.queues[name]
	if q == nil {
		return 0, Errorf(CodeQueueNotFound, "queue %q not found: nothing to delete", shown(name))
	}
	if q.dlqUsers > 0 {
		return 0, Errorf(CodeInUse, "queue %q is the dead-letter queue of %d other queue(s): delete those first", shown(name), q.dlqUsers)
	}
	for eb := range q.bindings {
		by := eb.ex.bindings[bindingKey{q, eb.key}]
		eb.ex.unbind(q, eb.key)
		c.nBindings--
		c.unuse(by, func(u *Usage) { u.Bindings-- })
	}
	for q.consumers.len() > 0 {
		cs := q.consumers.head
		c.removeConsumer(cs)
		if cs.conn.closing {
			continue // its connection is gone: nobody to tell
		}
		c.out = append(c.out, Effect{
			Kind: EffectCancelled,
			Conn: cs.conn.id,
			Err:  Errorf(CodeQueueNotFound, "queue %q was deleted: consumer %q ended", shown(name), cs.tag),
			Delivery: Delivery{
				ConsumerTag: cs.tag,
				Queue:       name,
			},
		})
	}
	discarded := q.ready.len() + q.unacked
	c.beginTouch()
	q.ready.clearAll(c.drop)
	if q.unacked > 0 {
		// The queue's own list names its unacked copies: no connection is
		// visited. They are discarded in (connection, tag) order, as
		// before, so the persisted records do not depend on list order.
		ms := c.scratch[:0]
		for m := q.unackedList; m != nil; m = m.unext {
			ms = append(ms, m)
		}
		slices.SortFunc(ms, func(a, b *message) int {
			if a.owner.id != b.owner.id {
				return cmp.Compare(a.owner.id, b.owner.id)
			}
			return cmp.Compare(a.tag, b.tag)
		})
		for _, m := range ms {
			c.work++
			c.release(m)
			c.drop(m)
		}
		c.scratch = clearMessages(ms)
	}
	if q.unacked != 0 || q.bytes != 0 {
		panic("broker: deleted queue " + name + " still accounts for messages")
	}
	if q.dlq != nil {
		q.dlq.dlqUsers--
	}
	delete(c.queues, name)
	c.queueIndex.delete(name)
	if inDefaultVhost(name) {
		c.defaultQueues.delete(name)
	}
	c.deleted.add(&q.c)
	c.unuse(q.owner, func(u *Usage) { u.Queues-- })
	if q.opts.Durable {
		c.persistRecords(record.Record{Type: record.RecDeleteQueue, Queue: name})
	}
	return discarded, nil
}

// Bind routes messages from exchange to queue by key (a topic pattern for
// topic exchanges, ignored by fanout exchanges). Binding twice is a no-op.
func (c *Core) Bind(exchange, queue, key string) error {
	return c.BindAs(Owner{}, exchange, queue, key)
}

// BindAs is Bind on behalf of owner: a new binding counts against owner's
// binding limit.
func (c *Core) BindAs(owner Owner, exchange, queue, key string) error {
	ex, q, err := c.bindingEnds(exchange, queue, key)
	if err != nil {
		return err
	}
	if c.cfg.Mutations.TopicHashOneWord && ex.typ == Topic {
		key = mutateHashToStar(key)
	}
	if _, ok := ex.bindings[bindingKey{q, key}]; ok {
		return nil
	}
	if c.nBindings >= c.cfg.MaxBindings {
		return Errorf(CodeResourceLimit, "the broker already has %d bindings, its limit: remove some first", c.nBindings)
	}
	if e := overLimit(owner, "bindings", c.Usage(owner.User).Bindings, owner.Limits.Bindings); e != nil {
		return e
	}
	ex.bind(q, key, owner.User)
	if ex.typ == Topic && ex.topic.cost() > MaxTopicStates && !c.restoring {
		ex.unbind(q, key)
		return Errorf(CodeInvalidArgument, "binding key %q would let one publish to topic exchange %q visit up to %d pattern states, above the limit of %d: bind fewer distinct patterns with \"*\" after a \"#\", or use a direct exchange", key, shown(ex.name), ex.topic.cost(), MaxTopicStates)
	}
	c.nBindings++
	c.use(owner.User).Bindings++
	c.persistBinding(ex, q, key)
	return nil
}

// Unbind removes a binding. Removing a binding that does not exist is a
// no-op (as in AMQP), but both ends must exist.
func (c *Core) Unbind(exchange, queue, key string) error {
	ex, q, err := c.bindingEnds(exchange, queue, key)
	if err != nil {
		return err
	}
	by, bound := ex.bindings[bindingKey{q, key}]
	if bound && ex.unbind(q, key) {
		c.nBindings--
		c.unuse(by, func(u *Usage) { u.Bindings-- })
		if q.opts.Durable {
			c.persistRecords(record.Record{Type: record.RecUnbind, Exchange: ex.name, Queue: q.name, Key: key})
		}
	}
	return nil
}

func (c *Core) bindingEnds(exchange, queue, key string) (*exchange, *queue, error) {
	if e := validateBindingKey(key); e != nil {
		return nil, nil, e
	}
	ex := c.exchanges[exchange]
	if ex == nil {
		return nil, nil, Errorf(CodeExchangeNotFound, "exchange %q not found: declare it before binding", shown(exchange))
	}
	q := c.queues[queue]
	if q == nil {
		return nil, nil, Errorf(CodeQueueNotFound, "queue %q not found: declare it before binding", shown(queue))
	}
	return ex, q, nil
}

// mutateHashToStar is the TopicHashOneWord mutation (TEST ONLY): every
// "#" word of a pattern becomes "*".
func mutateHashToStar(key string) string {
	words := strings.Split(key, ".")
	for i, w := range words {
		if w == "#" {
			words[i] = "*"
		}
	}
	return strings.Join(words, ".")
}
