package broker

import (
	"bytes"
	"time"
	"unsafe"
)

// Publish routes one message. Its outcome is always exactly one effect for
// p.Seq on conn: EffectConfirm once the message is in every target queue
// (Duplicate if its id was accepted within the dedup window; then it is not
// enqueued again), or EffectRefuse with the reason. A refusal enqueues
// nothing anywhere. Deliveries to consumers follow the confirm.
func (c *Core) Publish(conn ConnID, p *Publish, now time.Time) {
	c.advance(now)
	if e := c.publish(conn, p); e != nil {
		c.emitRefuse(conn, p.Seq, e)
	}
}

// Refuse answers publish seq of conn with a refusal decided outside the
// core (a session's permission check), in the connection's outcome order:
// it never overtakes a confirm that waits for its fsync.
func (c *Core) Refuse(conn ConnID, seq uint64, err *Error, now time.Time) {
	c.advance(now)
	c.emitRefuse(conn, seq, err)
}

func (c *Core) publish(conn ConnID, p *Publish) *Error {
	if c.conns[conn] == nil {
		return Errorf(CodeProtocol, "connection %d is not open: the driver must call Open first", conn)
	}
	size := p.Prefix.Len() + len(p.Body) // the logical body, prefix ‖ body
	if e := validateMessageID(p.MessageID); e != nil {
		return e
	}
	switch {
	case size > c.cfg.MaxMessageSize:
		return Errorf(CodeTooLarge, "message body is %d bytes: the limit is %d, split the message", size, c.cfg.MaxMessageSize)
	case len(p.RoutingKey) > MaxRoutingKeyLen:
		return Errorf(CodeInvalidArgument, "routing key is %d bytes long: the limit is %d", len(p.RoutingKey), MaxRoutingKeyLen)
	}
	ex := c.exchanges[string(p.Exchange)]
	window := c.dedup.of(p.User)
	material := c.dedup.material(p.User, p.Exchange, p.MessageID)
	dup, key := window.seen(material, c.now)
	if dup {
		// Already accepted: confirm again without enqueueing, so that a
		// publisher retrying after a lost confirm converges.
		allDurable, anyDurable := false, false
		c.router.reset()
		if ex != nil || isDefaultExchange(p.Exchange) {
			c.route(ex, p.Exchange, p.RoutingKey)
			allDurable = allTargetsDurable(c.router.targets)
			for _, q := range c.router.targets {
				anyDurable = anyDurable || q.opts.Durable
			}
		}
		if anyDurable && c.persist.failed != nil {
			// The first copy may be one whose fsync failed (StorageFailed):
			// confirming it would promise durability. A publisher that
			// sent it before reports this refusal as indeterminate.
			return c.persist.failed
		}
		c.duplicates++
		for _, q := range c.router.targets {
			q.c.duplicates++
		}
		// The first copy's confirm may still wait for its fsync: a
		// duplicate's must not overtake it.
		c.emitOutcome(Effect{Kind: EffectConfirm, Conn: conn, Seq: p.Seq, Duplicate: true, Durable: allDurable}, c.PendingPersist() > 0)
		return nil
	}
	owner := c.conns[conn].owner
	if e := c.overShare(owner); e != nil {
		return e
	}
	exName := ""
	switch {
	case ex != nil:
		exName = ex.name
	case isDefaultExchange(p.Exchange):
		exName = string(p.Exchange) // "", or the vhost's prefix: no allocation for ""
	default:
		return Errorf(CodeExchangeNotFound, "exchange %q not found: declare it before publishing", shown(string(p.Exchange)))
	}
	c.router.reset()
	c.route(ex, p.Exchange, p.RoutingKey)
	targets := c.router.targets // in name order: enqueue and delivery order across queues
	if len(targets) == 0 {
		if ex == nil {
			return Errorf(CodeNoRoute, "the default exchange routes to the queue named by the routing key, and there is no queue %q: declare it first", p.RoutingKey)
		}
		ex.unroutable++
		return Errorf(CodeNoRoute, "exchange %q has no binding for routing key %q: bind a queue first", shown(ex.name), p.RoutingKey)
	}
	var full *queue
	for _, q := range targets {
		if !q.hasRoomFor(size) {
			q.c.refused++
			if full == nil {
				full = q
			}
		}
	}
	if full != nil {
		if full.opts.MaxBytes > 0 && int64(size) > full.opts.MaxBytes {
			return Errorf(CodeQueueFull, "message body of %d bytes can never fit queue %q (max bytes %d): do not retry it", size, shown(full.name), full.opts.MaxBytes)
		}
		return Errorf(CodeQueueFull, "queue %q is full (%d messages, %d bytes held): retry after consumers catch up", shown(full.name), full.held(), full.bytes)
	}
	durable := false
	for _, q := range targets {
		durable = durable || q.opts.Durable
	}
	if durable && c.persist.failed != nil {
		return c.persist.failed
	}
	var storeSeq uint64
	if durable {
		c.persist.nextSeq++
		storeSeq = c.persist.nextSeq
	}

	// Accepted. One allocation holds id, routing key and body for every
	// target queue; message records come from the free list. The prefix is
	// immutable and shared as it is: by every target queue here, and by
	// every other message published with it.
	if ex != nil {
		ex.published++
	}
	id, rk, body := copyMessage(p.MessageID, p.RoutingKey, p.Body)
	lossy := c.cfg.Mutations.ConfirmBeforeEnqueue
	if lossy {
		c.emitConfirm(conn, p.Seq, false)
	}
	for _, q := range targets {
		if lossy && q.consumers.len() == 0 {
			continue // the deliberate bug: confirmed, never enqueued
		}
		m := c.newMessage()
		m.id, m.exchange, m.routingKey, m.body, m.prefix = id, exName, rk, body, p.Prefix
		m.q = q
		m.publisher = owner.User
		q.seq++
		m.seq = q.seq
		if q.opts.Durable {
			m.storeSeq = storeSeq
		}
		m.state = stateReady
		q.ready.pushBack(m)
		q.bytes += int64(size)
		c.memHold(m)
		q.c.published++
	}
	window.record(key, c.now)
	if durable {
		c.persistPublish(storeSeq, id, exName, rk, p.Prefix, body, targets, material)
	}
	if !lossy {
		c.emitOutcome(Effect{Kind: EffectConfirm, Conn: conn, Seq: p.Seq, Durable: allTargetsDurable(targets)}, durable && !c.cfg.Mutations.ConfirmBeforePersist)
	}
	for _, q := range targets {
		c.dispatch(q)
	}
	return nil
}

// isDefaultExchange reports whether a core exchange name is the nameless
// default exchange of AMQP: "" in the default vhost, and the vhost's prefix
// alone ("name\x1f") in another vhost. Declared names are never empty, so
// no declared exchange is ever taken for it.
func isDefaultExchange(exchange []byte) bool {
	return len(exchange) == 0 || exchange[len(exchange)-1] == VhostSeparator[0]
}

// route puts the queues a publish to exchange (ex, nil for the default
// exchange) with key reaches into c.router. The default exchange routes to
// the queue of its own vhost named by the key, if there is one: a key that
// is empty or holds the vhost separator names no queue (it could otherwise
// reach into another vhost).
func (c *Core) route(ex *exchange, exchange, key []byte) {
	if ex != nil {
		ex.route(key, &c.router)
		return
	}
	if len(key) == 0 || bytes.IndexByte(key, VhostSeparator[0]) >= 0 {
		return
	}
	c.nameBuf = append(append(c.nameBuf[:0], exchange...), key...)
	if q := c.queues[string(c.nameBuf)]; q != nil { // the lookup does not allocate
		c.router.add(q)
	}
}

// allTargetsDurable reports whether a publish to targets is on disk in all
// of them once persisted: false for no targets or any in-memory queue.
func allTargetsDurable(targets []*queue) bool {
	for _, q := range targets {
		if !q.opts.Durable {
			return false
		}
	}
	return len(targets) > 0
}

// copyMessage copies id, routing key and body into one immutable buffer.
// The strings alias the buffer, which is safe because nothing ever writes
// to it again.
func copyMessage(id, key, body []byte) (string, string, []byte) {
	n := len(id) + len(key) + len(body)
	buf := make([]byte, n) // n > 0: ids are never empty
	copy(buf, id)
	copy(buf[len(id):], key)
	copy(buf[len(id)+len(key):], body)
	idStr := unsafe.String(&buf[0], len(id))
	var rk string
	if len(key) > 0 {
		rk = unsafe.String(&buf[len(id)], len(key))
	}
	var b []byte
	if len(body) > 0 {
		b = buf[len(id)+len(key) : n : n]
	}
	return idStr, rk, b
}
