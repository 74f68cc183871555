package broker

import (
	"strconv"
	"time"
)

// consumer is a push subscription of one connection to one queue.
type consumer struct {
	tag        string
	conn       *connection
	q          *queue
	prefetch   int
	ackTimeout time.Duration // effective: the consumer's, else the queue's
	unacked    int
	active     bool // false once cancelled; its deliveries may still be outstanding
	// parked: taken out of its queue's room set by a dispatch that met it
	// while its connection was at its outbound bound (outbound.go); it is
	// in conn.parked until the connection's unpark job puts it back.
	parked bool

	// prev and next link the consumers of q in registration order.
	prev, next *consumer
	// cprev and cnext link the consumers of conn (connection.chead).
	cprev, cnext *consumer
	roomNode     // membership of q's room set (roomset.go)
}

// consumerList holds a queue's consumers in registration order, as a
// doubly linked list so that a consumer leaves in O(1), with the round
// robin cursor: the consumer to consider first for the next delivery. Its
// behaviour is that of a slice plus an index (what the reference model
// keeps): removing the consumer under the cursor moves the cursor to its
// successor (the head after the tail), removing any other keeps it, and a
// new consumer joins at the tail.
type consumerList struct {
	head, tail *consumer
	n          int
	cursor     *consumer // nil exactly when the list is empty
	nextPos    uint64    // the position the next consumer to join gets
	room       roomSet   // the consumers with room, by position
}

func (l *consumerList) len() int { return l.n }

// succ is the consumer after cs, wrapping from the tail to the head.
func (l *consumerList) succ(cs *consumer) *consumer {
	if cs.next != nil {
		return cs.next
	}
	return l.head
}

func (l *consumerList) pushBack(cs *consumer) {
	cs.pos = l.nextPos
	l.nextPos++
	cs.prev, cs.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = cs
	} else {
		l.head = cs
	}
	l.tail = cs
	l.n++
	if l.cursor == nil {
		l.cursor = cs
	}
}

func (l *consumerList) remove(cs *consumer) {
	if l.cursor == cs {
		l.cursor = l.succ(cs)
		if l.cursor == cs {
			l.cursor = nil
		}
	}
	if cs.prev != nil {
		cs.prev.next = cs.next
	} else {
		l.head = cs.next
	}
	if cs.next != nil {
		cs.next.prev = cs.prev
	} else {
		l.tail = cs.prev
	}
	cs.prev, cs.next = nil, nil
	l.n--
}

// Consume registers a push consumer on conn and delivers whatever the queue
// holds up to the consumer's prefetch. It returns the consumer tag (the
// given one, or a generated "ctag-N").
func (c *Core) Consume(conn ConnID, opts ConsumeOptions, now time.Time) (string, error) {
	c.advance(now)
	cn, err := c.conn(conn)
	if err != nil {
		return "", err
	}
	q := c.queues[opts.Queue]
	if q == nil {
		return "", Errorf(CodeQueueNotFound, "queue %q not found: declare it before consuming", shown(opts.Queue))
	}
	if opts.Prefetch < 0 {
		return "", Errorf(CodeInvalidArgument, "prefetch %d is negative: use 0 for the default or a positive limit", opts.Prefetch)
	}
	if opts.AckTimeout < 0 {
		return "", Errorf(CodeInvalidArgument, "ack timeout %v is negative: use 0 for the queue's timeout", opts.AckTimeout)
	}
	tag := opts.Tag
	if tag == "" {
		for tag == "" || cn.consumers[tag] != nil {
			cn.consumerSeq++
			tag = "ctag-" + strconv.FormatUint(cn.consumerSeq, 10)
		}
	} else {
		if e := validateName("consumer tag", tag); e != nil {
			return "", e
		}
		if cn.consumers[tag] != nil {
			return "", Errorf(CodeInUse, "consumer tag %q is already used on this connection: pick another or leave it empty", tag)
		}
	}
	if c.nConsumers >= c.cfg.MaxConsumers {
		return "", Errorf(CodeResourceLimit, "the broker already has %d consumers, its limit: cancel some first", c.nConsumers)
	}
	if e := overLimit(cn.owner, "consumers", c.Usage(cn.owner.User).Consumers, cn.owner.Limits.Consumers); e != nil {
		return "", e
	}
	cs := &consumer{
		tag:        tag,
		conn:       cn,
		q:          q,
		prefetch:   opts.Prefetch,
		ackTimeout: opts.AckTimeout,
		active:     true,
	}
	if cs.prefetch == 0 {
		cs.prefetch = c.cfg.DefaultPrefetch
	}
	if cs.ackTimeout == 0 {
		cs.ackTimeout = q.ackTimeout
	}
	if cn.consumers == nil {
		cn.consumers = make(map[string]*consumer)
	}
	cn.consumers[tag] = cs
	cs.cnext = cn.chead
	if cn.chead != nil {
		cn.chead.cprev = cs
	}
	cn.chead = cs
	q.consumers.pushBack(cs)
	c.syncRoom(cs)
	c.nConsumers++
	c.use(cn.owner.User).Consumers++
	c.dispatch(q)
	return tag, nil
}

// Cancel ends a consumer. Its unacked deliveries stay outstanding on the
// connection: acks for them still work until the connection closes.
func (c *Core) Cancel(conn ConnID, tag string, now time.Time) error {
	c.advance(now)
	cn, err := c.conn(conn)
	if err != nil {
		return err
	}
	cs := cn.consumers[tag]
	if cs == nil {
		return Errorf(CodeConsumerNotFound, "no consumer %q on this connection: nothing to cancel", tag)
	}
	c.removeConsumer(cs)
	return nil
}

// removeConsumer detaches cs from its connection and queue in O(1).
func (c *Core) removeConsumer(cs *consumer) {
	if !cs.active {
		panic("broker: consumer " + cs.tag + " removed twice")
	}
	c.work++
	cs.active = false
	c.syncRoom(cs)
	cn := cs.conn
	if cn.consumers[cs.tag] != cs {
		panic("broker: consumer " + cs.tag + " missing from its connection")
	}
	delete(cn.consumers, cs.tag)
	if cs.cprev != nil {
		cs.cprev.cnext = cs.cnext
	} else {
		cn.chead = cs.cnext
	}
	if cs.cnext != nil {
		cs.cnext.cprev = cs.cprev
	}
	cs.cprev, cs.cnext = nil, nil
	cs.q.consumers.remove(cs)
	c.nConsumers--
	c.unuse(cn.owner.User, func(u *Usage) { u.Consumers-- })
}

// hasRoom reports whether the consumer may take one more push: below its
// prefetch, and its connection below its outbound bound and not closing.
func (cs *consumer) hasRoom() bool {
	return cs.unacked < cs.prefetch && !cs.conn.outFull() && !cs.conn.closing
}

// nextConsumer picks, round robin, the next consumer of q with room under
// its prefetch, or nil if all are full: the first consumer with room at or
// after the cursor in list order, wrapping to the head. The room set
// answers in O(log consumers) whatever the number of full consumers.
//
// Consumers of a closing connection may still be in the room set (Close
// does not visit them: teardown.go removes them in bounded steps). One met
// here is removed on the spot, its teardown step done early, which leaves
// the cursor where removing all of them at Close would have: so the choice
// is the one the one-shot Close made. Likewise a consumer whose connection
// is at its outbound bound stays in the set until a search meets it, and
// is then parked (outbound.go). c.skips counts those removals; at
// Config.TeardownStep of them the queue is left behind (nil) and its
// dispatch resumes at the next Tick, so no call removes more than that
// (the count is per core call: advance resets it).
func (c *Core) nextConsumer(q *queue) *consumer {
	l := &q.consumers
	for {
		if l.cursor == nil {
			return nil
		}
		cs := l.room.ceil(l.cursor.pos, &c.roomWork)
		if cs == nil {
			cs = l.room.first(&c.roomWork)
		}
		if cs == nil {
			return nil
		}
		if cs.conn.closing || cs.conn.outFull() {
			if c.skips >= c.cfg.TeardownStep {
				c.leaveBehind(q)
				return nil
			}
			c.skips++
			if cs.conn.closing {
				c.removeConsumer(cs)
			} else {
				c.park(cs)
			}
			continue
		}
		l.cursor = l.succ(cs)
		return cs
	}
}

// leaveBehind marks q as having a dispatch to finish at the next Tick.
func (c *Core) leaveBehind(q *queue) {
	if !q.behind {
		q.behind = true
		c.behind = append(c.behind, q)
	}
}

// dispatch pushes ready messages of q to its consumers while some have room.
func (c *Core) dispatch(q *queue) {
	for q.ready.len() > 0 && q.consumers.len() > 0 {
		cs := c.nextConsumer(q)
		if cs == nil {
			return
		}
		m := q.ready.popFront()
		d := c.deliver(m, cs.conn, cs, cs.ackTimeout)
		c.out = append(c.out, Effect{Kind: EffectDeliver, Conn: cs.conn.id, Delivery: d})
	}
}

// deliver hands a ready message (already out of the ready ring) to a
// connection as a new delivery attempt with a fresh tag.
func (c *Core) deliver(m *message, cn *connection, cs *consumer, ackTimeout time.Duration) Delivery {
	if m.state != stateReady {
		panic("broker: delivering a message that is not ready")
	}
	q := m.q
	cn.lastTag++
	m.tag = cn.lastTag
	m.owner = cn
	m.consumer = cs
	m.state = stateUnacked
	m.deliveries++
	c.persistDelivered(m)
	q.unacked++
	q.linkUnacked(m)
	q.c.delivered++
	if m.redelivered {
		q.c.redelivered++
	}
	if cs != nil {
		cs.unacked++
	}
	// Becoming full costs nothing here: the connection's other consumers
	// are parked lazily, when a dispatch meets them (outbound.go).
	cn.outBytes += int64(m.size()) + deliveryOverhead
	if cs != nil {
		c.syncRoom(cs)
	}
	cn.track(m)
	if ackTimeout > 0 {
		c.watchDeadline(m, ackTimeout)
	}
	tagName := ""
	if cs != nil {
		tagName = cs.tag
	}
	return Delivery{
		ConsumerTag:   tagName,
		Tag:           m.tag,
		Queue:         q.name,
		Exchange:      m.exchange,
		RoutingKey:    m.routingKey,
		MessageID:     m.id,
		Prefix:        m.prefix,
		Body:          m.body,
		Redelivered:   m.redelivered,
		DeliveryCount: m.deliveries,

		DeadLetterReason: m.reason,
	}
}

// Fetch pulls the queue's first ready message as a delivery without a
// consumer tag. It stays unacked (and subject to the queue's ack timeout)
// until acked, nacked or rejected. ok is false when the queue has no ready
// message.
func (c *Core) Fetch(conn ConnID, queue string, now time.Time) (Delivery, bool, error) {
	c.advance(now)
	cn, err := c.conn(conn)
	if err != nil {
		return Delivery{}, false, err
	}
	q := c.queues[queue]
	if q == nil {
		return Delivery{}, false, Errorf(CodeQueueNotFound, "queue %q not found: declare it before fetching", shown(queue))
	}
	if q.ready.len() == 0 {
		return Delivery{}, false, nil
	}
	m := q.ready.popFront()
	return c.deliver(m, cn, nil, q.ackTimeout), true, nil
}
