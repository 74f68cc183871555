package broker

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker/record"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Administrative operations and listings for management drivers (the
// management API, broker/mgmt). Each costs what its own arguments ask for:
// a page, a queue's ready messages, one exchange's bindings.

// PurgeQueue discards the queue's ready messages (RabbitMQ's purge: the
// unacked ones stay with their consumers) and returns how many it
// discarded. They count as discarded in the queue's stats. It costs
// O(ready messages).
func (c *Core) PurgeQueue(name string, now time.Time) (int, error) {
	c.advance(now)
	q := c.queues[name]
	if q == nil {
		return 0, Errorf(CodeQueueNotFound, "queue %q not found: nothing to purge", shown(name))
	}
	n := q.ready.len()
	q.ready.clearAll(func(m *message) {
		c.work++
		q.c.discarded++
		c.drop(m)
	})
	return n, nil
}

// MoveReady moves at most limit ready messages from the front of queue
// from to the back of queue to (both in the core's names), keeping their
// ids and bodies, and returns how many it moved. It is dead-lettering in
// reverse (the same records go to the durable log: a settle in from, a
// copy in to), so no publish happens and the dedup window is not involved.
// A message stops the move when to has no room for it (MaxLength,
// MaxBytes). Moved messages start with a delivery count of zero.
func (c *Core) MoveReady(from, to string, limit int, now time.Time) (int, error) {
	c.advance(now)
	src, dst := c.queues[from], c.queues[to]
	if src == nil {
		return 0, Errorf(CodeQueueNotFound, "queue %q not found: nothing to move", shown(from))
	}
	if dst == nil {
		return 0, Errorf(CodeQueueNotFound, "queue %q not found: nowhere to move to", shown(to))
	}
	if src == dst {
		return 0, Errorf(CodeInvalidArgument, "cannot move queue %q's messages into itself", shown(from))
	}
	c.beginTouch()
	moved := 0
	for moved < limit && src.ready.len() > 0 {
		m := src.ready.at(0)
		if !dst.hasRoomFor(m.size()) {
			break
		}
		src.ready.popFront()
		c.work++
		c.persistSettle(m, record.DeadLettered)
		src.bytes -= int64(m.size())
		dst.seq++
		m.q, m.seq = dst, dst.seq
		m.deliveries, m.redelivered = 0, false
		m.reason = wire.ReasonNone // back in a queue: no longer dead-lettered
		dst.bytes += int64(m.size())
		dst.ready.pushBack(m)
		c.persistCopy(m)
		c.touch(dst)
		moved++
	}
	c.dispatchTouched()
	return moved, nil
}

// ReadyMessage describes one ready message without copying its body.
type ReadyMessage struct {
	MessageID   string
	Exchange    string
	RoutingKey  string
	Size        int
	Deliveries  uint32
	Redelivered bool
	// Reason is why the message was dead-lettered (wire.ReasonNone: it was
	// not, or no reason was given, e.g. by a text-protocol client).
	Reason wire.RejectReason
	// Head is up to the first headLen bytes of the logical body (a copy):
	// enough for a driver to read an envelope's public header.
	Head []byte
}

// PeekReady calls fn with at most limit ready messages of queue, from the
// offset-th one (0: the front) in queue order, and reports whether the
// queue exists. Head holds a copy of up to headLen bytes of each body. It
// costs O(limit × headLen).
func (c *Core) PeekReady(name string, offset, limit, headLen int, fn func(ReadyMessage)) bool {
	q := c.queues[name]
	if q == nil {
		return false
	}
	for i := max(offset, 0); i < q.ready.len() && i < offset+limit; i++ {
		m := q.ready.at(i)
		c.work++
		head := make([]byte, 0, min(headLen, m.size()))
		if p := m.prefix.Bytes(); len(p) > 0 {
			head = append(head, p[:min(len(p), headLen)]...)
		}
		if rest := headLen - len(head); rest > 0 {
			head = append(head, m.body[:min(len(m.body), rest)]...)
		}
		fn(ReadyMessage{MessageID: m.id, Exchange: m.exchange, RoutingKey: m.routingKey, Size: m.size(),
			Deliveries: m.deliveries, Redelivered: m.redelivered, Reason: m.reason, Head: head})
	}
	return true
}

// BindingInfo is one binding.
type BindingInfo struct {
	Exchange string `json:"source"`
	Queue    string `json:"destination"`
	Key      string `json:"routing_key"`
}

// EachBinding calls fn with the bindings after the cursor (ex, q, key) in
// order: exchanges by name, each exchange's bindings by queue name then
// key, until fn returns false. An empty ex starts from the first
// exchange. Each exchange's bindings are sorted when it is reached: O(b log
// b) for its b bindings.
func (c *Core) EachBinding(ex, q, key string, fn func(BindingInfo) bool) {
	var buf []BindingInfo
	visit := func(x *exchange, after *BindingInfo) bool {
		buf = buf[:0]
		for k := range x.bindings {
			b := BindingInfo{Exchange: x.name, Queue: k.q.name, Key: k.key}
			if after != nil && cmp.Or(strings.Compare(b.Queue, after.Queue), strings.Compare(b.Key, after.Key)) <= 0 {
				continue
			}
			buf = append(buf, b)
		}
		slices.SortFunc(buf, func(a, b BindingInfo) int {
			return cmp.Or(strings.Compare(a.Queue, b.Queue), strings.Compare(a.Key, b.Key))
		})
		for _, b := range buf {
			c.work++
			if !fn(b) {
				return false
			}
		}
		return true
	}
	if ex != "" {
		if x := c.exchanges[ex]; x != nil {
			if !visit(x, &BindingInfo{Exchange: ex, Queue: q, Key: key}) {
				return
			}
		}
	}
	c.exchangeIndex.ascend(ex, func(_ string, x *exchange) bool { return visit(x, nil) })
}

// QueueBindings calls fn with the bindings to one queue, sorted by
// exchange then key; false if the queue does not exist.
func (c *Core) QueueBindings(name string, fn func(BindingInfo)) bool {
	q := c.queues[name]
	if q == nil {
		return false
	}
	bs := make([]BindingInfo, 0, len(q.bindings))
	for eb := range q.bindings {
		bs = append(bs, BindingInfo{Exchange: eb.ex.name, Queue: name, Key: eb.key})
	}
	slices.SortFunc(bs, func(a, b BindingInfo) int {
		return cmp.Or(strings.Compare(a.Exchange, b.Exchange), strings.Compare(a.Key, b.Key))
	})
	for _, b := range bs {
		c.work++
		fn(b)
	}
	return true
}

// ConsumerInfo is one consumer.
type ConsumerInfo struct {
	Queue    string `json:"queue"`
	Conn     ConnID `json:"conn"`
	Tag      string `json:"consumer_tag"`
	Prefetch int    `json:"prefetch_count"`
	Unacked  int    `json:"unacked"`
}

// QueueConsumers calls fn with the consumers of one queue in registration
// order; false if the queue does not exist.
func (c *Core) QueueConsumers(name string, fn func(ConsumerInfo)) bool {
	q := c.queues[name]
	if q == nil {
		return false
	}
	for cs := q.consumers.head; cs != nil; cs = cs.next {
		c.work++
		fn(ConsumerInfo{Queue: name, Conn: cs.conn.id, Tag: cs.tag, Prefetch: cs.prefetch, Unacked: cs.unacked})
	}
	return true
}

// ConnConsumers calls fn with one connection's consumers, by tag.
func (c *Core) ConnConsumers(conn ConnID, fn func(ConsumerInfo)) {
	cn := c.conns[conn]
	if cn == nil {
		return
	}
	tags := make([]string, 0, len(cn.consumers))
	for t := range cn.consumers {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	for _, t := range tags {
		cs := cn.consumers[t]
		c.work++
		fn(ConsumerInfo{Queue: cs.q.name, Conn: conn, Tag: cs.tag, Prefetch: cs.prefetch, Unacked: cs.unacked})
	}
}

// ConnUnacked is the number of deliveries a connection has not settled.
func (c *Core) ConnUnacked(conn ConnID) int {
	if cn := c.conns[conn]; cn != nil {
		return cn.live
	}
	return 0
}

// QueueDeadLetter returns the name of the queue's dead-letter queue ("" if
// it has none); false if the queue does not exist.
func (c *Core) QueueDeadLetter(name string) (string, bool) {
	q := c.queues[name]
	if q == nil {
		return "", false
	}
	if q.dlq == nil {
		return "", true
	}
	return q.dlq.name, true
}
