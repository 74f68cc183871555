package broker

import (
	"fmt"
	"slices"
)

// CheckInvariants verifies the core's internal bookkeeping against its
// data: counts of unacked messages, bytes, consumers and bindings, queue
// limits, and that no queue has a ready message while one of its consumers
// has room (dispatch is work-conserving). It walks the whole state, so it is
// for tests and simulators, not for production paths. It returns the first
// violation found.
func (c *Core) CheckInvariants() error {
	unackedPerQueue := make(map[*queue]int)
	bytesPerQueue := make(map[*queue]int64)
	perConsumer := make(map[*consumer]int)
	ids := make([]ConnID, 0, len(c.conns))
	for id := range c.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if err := c.checkHeld(ids); err != nil {
		return err
	}
	consumers := 0
	for _, id := range ids {
		cn := c.conns[id]
		if cn.id != id {
			return fmt.Errorf("connection %d registered under id %d", cn.id, id)
		}
		live := 0
		var last uint64
		for _, r := range cn.outstanding[cn.outHead:] {
			if r.tag <= last {
				return fmt.Errorf("connection %d: outstanding tags not increasing (%d after %d)", id, r.tag, last)
			}
			last = r.tag
			if r.tag > cn.lastTag {
				return fmt.Errorf("connection %d: outstanding tag %d above the last issued %d", id, r.tag, cn.lastTag)
			}
			if !cn.isLive(r) {
				continue
			}
			live++
			m := r.m
			if c.queues[m.q.name] != m.q {
				return fmt.Errorf("connection %d: tag %d belongs to deleted queue %s", id, r.tag, m.q.name)
			}
			unackedPerQueue[m.q]++
			bytesPerQueue[m.q] += int64(m.size())
			if m.consumer != nil {
				perConsumer[m.consumer]++
			}
			if m.deliveries == 0 {
				return fmt.Errorf("connection %d: unacked message %s has delivery count 0", id, m.id)
			}
		}
		if live != cn.live {
			return fmt.Errorf("connection %d: live count %d, but %d deliveries are outstanding", id, cn.live, live)
		}
		for tag, cs := range cn.consumers {
			if !cs.active || cs.conn != cn || cs.tag != tag {
				return fmt.Errorf("connection %d: consumer %s inactive or owned elsewhere", id, cs.tag)
			}
		}
		consumers += len(cn.consumers)
	}
	for _, td := range c.closing {
		cn := td.cn
		if !cn.closing || cn.td != td || c.conns[cn.id] == cn {
			return fmt.Errorf("closing connection %d: not marked closing, or still open", cn.id)
		}
		ms := td.appendLive(nil)
		if len(ms) != cn.live {
			return fmt.Errorf("closing connection %d: live count %d, but its teardown holds %d deliveries", cn.id, cn.live, len(ms))
		}
		for _, m := range ms {
			if c.queues[m.q.name] != m.q {
				return fmt.Errorf("closing connection %d: tag %d belongs to deleted queue %s", cn.id, m.tag, m.q.name)
			}
			unackedPerQueue[m.q]++
			bytesPerQueue[m.q] += int64(m.size())
			if m.consumer != nil {
				perConsumer[m.consumer]++
			}
		}
		n := 0
		for cs := cn.chead; cs != nil; cs = cs.cnext {
			if !cs.active || cs.conn != cn || cn.consumers[cs.tag] != cs {
				return fmt.Errorf("closing connection %d: consumer %s inactive or owned elsewhere", cn.id, cs.tag)
			}
			n++
		}
		if n != len(cn.consumers) {
			return fmt.Errorf("closing connection %d: %d consumers linked, %d by tag", cn.id, n, len(cn.consumers))
		}
		consumers += n
	}
	for _, cn := range c.allConns() {
		listed := make(map[*consumer]bool, len(cn.parked))
		for _, cs := range cn.parked {
			if !cs.parked && cs.active {
				return fmt.Errorf("connection %d lists consumer %s as parked, but it is not", cn.id, cs.tag)
			}
			listed[cs] = true
		}
		for _, cs := range cn.consumers {
			if cs.parked && !listed[cs] {
				return fmt.Errorf("consumer %s is parked but not listed on its connection %d", cs.tag, cn.id)
			}
		}
	}
	for _, cn := range c.unparking {
		if !cn.unparkQueued {
			return fmt.Errorf("connection %d queued for unparking without its mark", cn.id)
		}
	}
	for _, q := range c.behind {
		if !q.behind {
			return fmt.Errorf("queue %s listed behind without its mark", q.name)
		}
	}
	if consumers != c.nConsumers {
		return fmt.Errorf("consumer count %d, but connections hold %d", c.nConsumers, consumers)
	}
	bindings := 0
	for name, ex := range c.exchanges {
		if ex.name != name {
			return fmt.Errorf("exchange %s registered as %s", ex.name, name)
		}
		for bk := range ex.bindings {
			if c.queues[bk.q.name] != bk.q {
				return fmt.Errorf("exchange %s binds deleted queue %s", name, bk.q.name)
			}
			if _, ok := bk.q.bindings[exchangeBinding{ex, bk.key}]; !ok {
				return fmt.Errorf("binding %s→%s %q missing from the queue's side", name, bk.q.name, bk.key)
			}
		}
		bindings += len(ex.bindings)
	}
	if bindings != c.nBindings {
		return fmt.Errorf("binding count %d, but exchanges hold %d", c.nBindings, bindings)
	}
	dlqUsers := make(map[*queue]int)
	for _, q := range c.queues {
		if q.dlq != nil {
			dlqUsers[q.dlq]++
		}
	}
	for name, q := range c.queues {
		if q.name != name {
			return fmt.Errorf("queue %s registered as %s", q.name, name)
		}
		var lastSeq uint64
		for i := 0; i < q.ready.len(); i++ {
			m := q.ready.at(i)
			if m.state != stateReady || m.q != q {
				return fmt.Errorf("queue %s: ready slot %d holds a message in state %d of queue %s", name, i, m.state, m.q.name)
			}
			if m.seq > q.seq {
				return fmt.Errorf("queue %s: message %s has seq %d above the queue's %d", name, m.id, m.seq, q.seq)
			}
			if !m.redelivered && m.seq <= lastSeq {
				return fmt.Errorf("queue %s: never-delivered message %s out of enqueue order", name, m.id)
			}
			if !m.redelivered {
				lastSeq = m.seq
			}
			bytesPerQueue[q] += int64(m.size())
		}
		listed := 0
		var uprev *message
		for m := q.unackedList; m != nil; m = m.unext {
			if m.state != stateUnacked || m.q != q || m.uprev != uprev {
				return fmt.Errorf("queue %s: unacked list holds message %s in state %d of queue %s", name, m.id, m.state, m.q.name)
			}
			uprev = m
			if listed++; listed > q.unacked {
				break
			}
		}
		if listed != q.unacked {
			return fmt.Errorf("queue %s: unacked count %d, but its unacked list holds %d or more", name, q.unacked, listed)
		}
		if q.unacked != unackedPerQueue[q] {
			return fmt.Errorf("queue %s: unacked count %d, but connections hold %d", name, q.unacked, unackedPerQueue[q])
		}
		if q.bytes != bytesPerQueue[q] {
			return fmt.Errorf("queue %s: byte count %d, but its messages hold %d", name, q.bytes, bytesPerQueue[q])
		}
		if q.opts.MaxLength > 0 && q.held() > q.opts.MaxLength {
			return fmt.Errorf("queue %s: holds %d messages above its max length %d", name, q.held(), q.opts.MaxLength)
		}
		if q.opts.MaxBytes > 0 && q.bytes > q.opts.MaxBytes {
			return fmt.Errorf("queue %s: holds %d bytes above its max bytes %d", name, q.bytes, q.opts.MaxBytes)
		}
		if q.dlqUsers != dlqUsers[q] {
			return fmt.Errorf("queue %s: dead-letter user count %d, but %d queues name it", name, q.dlqUsers, dlqUsers[q])
		}
		if err := q.consumers.check(name); err != nil {
			return err
		}
		for cs := q.consumers.head; cs != nil; cs = cs.next {
			if !cs.active || cs.q != q || (c.conns[cs.conn.id] != cs.conn && !cs.conn.closing) {
				return fmt.Errorf("queue %s: consumer %s is stale", name, cs.tag)
			}
			if cs.unacked > cs.prefetch {
				return fmt.Errorf("queue %s: consumer %s has %d unacked above its prefetch %d", name, cs.tag, cs.unacked, cs.prefetch)
			}
			if q.ready.len() > 0 && cs.hasRoom() && !q.behind && !(cs.parked && cs.conn.unparkQueued) {
				return fmt.Errorf("queue %s: %d messages ready while consumer %s has room", name, q.ready.len(), cs.tag)
			}
		}
		if msg, ok := q.consumers.checkRoom(); !ok {
			return fmt.Errorf("queue %s: %s", name, msg)
		}
	}
	for cs, n := range perConsumer {
		if cs.unacked != n {
			return fmt.Errorf("consumer %s: unacked count %d, but %d deliveries are outstanding", cs.tag, cs.unacked, n)
		}
	}
	for _, cn := range c.allConns() {
		for _, cs := range cn.consumers {
			if cs.unacked != perConsumer[cs] {
				return fmt.Errorf("consumer %s: unacked count %d, but %d deliveries are outstanding", cs.tag, cs.unacked, perConsumer[cs])
			}
		}
	}
	if err := c.checkUsage(); err != nil {
		return err
	}
	if err := c.checkMemory(); err != nil {
		return err
	}
	if err := c.checkVhostIndexes(); err != nil {
		return err
	}
	for _, u := range c.dedup.users {
		d := c.dedup.byUser[u]
		if len(d.fifo)-d.head != d.ids.len() {
			return fmt.Errorf("dedup window of user %q: %d ids in the set, %d in the FIFO", u, d.ids.len(), len(d.fifo)-d.head)
		}
		if d.enabled() && d.ids.len() > d.max {
			return fmt.Errorf("dedup window of user %q: %d ids above the limit %d", u, d.ids.len(), d.max)
		}
	}
	return nil
}

// checkVhostIndexes verifies that the default vhost's indexes hold
// exactly its queues and exchanges.
func (c *Core) checkVhostIndexes() error {
	nq, nx := 0, 0
	for name, q := range c.queues {
		if inDefaultVhost(name) {
			nq++
			if got, ok := c.defaultQueues.get(name); !ok || got != q {
				return fmt.Errorf("default vhost index: queue %q missing", name)
			}
		}
	}
	for name, ex := range c.exchanges {
		if inDefaultVhost(name) {
			nx++
			if got, ok := c.defaultExchanges.get(name); !ok || got != ex {
				return fmt.Errorf("default vhost index: exchange %q missing", name)
			}
		}
	}
	if nq != c.defaultQueues.len() || nx != c.defaultExchanges.len() {
		return fmt.Errorf("default vhost index: %d queues and %d exchanges indexed, %d and %d exist",
			c.defaultQueues.len(), c.defaultExchanges.len(), nq, nx)
	}
	return nil
}

// checkUsage recounts what every user holds and compares it with the
// per-user usage records.
func (c *Core) checkUsage() error {
	want := make(map[string]*Usage)
	at := func(u string) *Usage {
		if want[u] == nil {
			want[u] = &Usage{}
		}
		return want[u]
	}
	for _, ex := range c.exchanges {
		at(ex.owner).Exchanges++
		for _, by := range ex.bindings {
			at(by).Bindings++
		}
	}
	for _, q := range c.queues {
		at(q.owner).Queues++
	}
	held := func(m *message) {
		if m.publisher != "" {
			at(m.publisher).QueuedBytes += copyCost(m) + MessageOverhead
		}
	}
	for _, q := range c.queues {
		for i := 0; i < q.ready.len(); i++ {
			held(q.ready.at(i))
		}
	}
	for _, td := range c.closing {
		// A closing connection's deliveries were detached at Close: they
		// are still held (and still charged to their publishers) until
		// the teardown requeues or dead-letters them.
		for _, m := range td.appendLive(nil) {
			held(m)
		}
	}
	for _, cn := range c.allConns() {
		at(cn.owner.User).Consumers += len(cn.consumers)
		for _, m := range cn.appendAll(nil) {
			held(m)
		}
	}
	for u, w := range want {
		if *w == (Usage{}) {
			continue
		}
		if got := c.usage[u]; got == nil || *got != *w {
			return fmt.Errorf("usage of user %q: recorded %+v, recounted %+v", u, got, *w)
		}
	}
	for u, got := range c.usage {
		if w := want[u]; w == nil || *w != *got {
			return fmt.Errorf("usage of user %q: recorded %+v, recounted %+v", u, *got, w)
		}
	}
	return nil
}

// check verifies the links, the count and the cursor of a queue's
// consumer list.
func (l *consumerList) check(qname string) error {
	n := 0
	cursorSeen := false
	var prev *consumer
	for cs := l.head; cs != nil; cs = cs.next {
		if cs.prev != prev {
			return fmt.Errorf("queue %s: consumer %s has a broken back link", qname, cs.tag)
		}
		if cs == l.cursor {
			cursorSeen = true
		}
		prev = cs
		n++
		if n > l.n {
			return fmt.Errorf("queue %s: consumer list longer than its count %d", qname, l.n)
		}
	}
	switch {
	case prev != l.tail:
		return fmt.Errorf("queue %s: consumer list tail is not its last consumer", qname)
	case n != l.n:
		return fmt.Errorf("queue %s: consumer count %d, but the list holds %d", qname, l.n, n)
	case n > 0 && !cursorSeen:
		return fmt.Errorf("queue %s: round-robin cursor is not one of its consumers", qname)
	case n == 0 && l.cursor != nil:
		return fmt.Errorf("queue %s: round-robin cursor set on an empty consumer list", qname)
	}
	return nil
}
