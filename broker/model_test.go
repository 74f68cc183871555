package broker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// model is a deliberately naive reference implementation of the core's
// semantics, for the state-machine test: slices instead of rings and
// indexes, routing by scanning every binding with a recursive topic matcher
// instead of a trie, linear scans for tags and deadlines. It is written
// from the specification in doc.go, not from the core's code.
type model struct {
	cfg       Config
	now       time.Time
	exchanges map[string]*mExchange
	bindings  []mBinding // in bind order
	queues    map[string]*mQueue
	conns     map[ConnID]*mConn
	dedup     []mSeen // oldest first

	duplicates, refused uint64
	effects             []Effect
}

type mExchange struct {
	typ                   ExchangeType
	published, unroutable uint64
}

type mBinding struct{ ex, q, key string }

type mQueue struct {
	name       string
	opts       QueueOptions
	ackTimeout time.Duration
	ready      []*mMsg
	seq        uint64
	consumers  []*mConsumer
	rr         int
	c          queueCounters
}

type mMsg struct {
	id, exchange, key, body string
	queue                   *mQueue
	seq                     uint64
	count                   uint32
	redelivered             bool
}

type mConsumer struct {
	tag      string
	conn     ConnID
	queue    *mQueue
	prefetch int
	timeout  time.Duration
	unacked  int
}

type mOut struct {
	tag      uint64
	msg      *mMsg
	consumer *mConsumer
	deadline time.Time // zero: none
}

type mConn struct {
	lastTag   uint64
	out       []*mOut // tag order
	consumers []*mConsumer
	ctags     uint64
}

type mSeen struct {
	id string
	at time.Time
}

func newModel(cfg Config, now time.Time) *model {
	return &model{
		cfg:       cfg.withDefaults(),
		now:       now,
		exchanges: map[string]*mExchange{},
		queues:    map[string]*mQueue{},
		conns:     map[ConnID]*mConn{},
	}
}

func (m *model) advance(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
}

func refusal(code Code) error { return &Error{Code: code, Msg: "model"} }

func (m *model) open(id ConnID, now time.Time) {
	m.advance(now)
	m.conns[id] = &mConn{}
}

func (m *model) declareExchange(name string, typ ExchangeType) error {
	if ex, ok := m.exchanges[name]; ok {
		if ex.typ != typ {
			return refusal(CodeMismatch)
		}
		return nil
	}
	m.exchanges[name] = &mExchange{typ: typ}
	return nil
}

func (m *model) deleteExchange(name string) error {
	if m.exchanges[name] == nil {
		return refusal(CodeExchangeNotFound)
	}
	m.bindings = slices.DeleteFunc(m.bindings, func(b mBinding) bool { return b.ex == name })
	delete(m.exchanges, name)
	return nil
}

func (m *model) declareQueue(name string, opts QueueOptions) error {
	if q, ok := m.queues[name]; ok {
		if q.opts != opts {
			return refusal(CodeMismatch)
		}
		return nil
	}
	if opts.DeadLetterQueue != "" && m.queues[opts.DeadLetterQueue] == nil {
		return refusal(CodeQueueNotFound)
	}
	timeout := opts.AckTimeout
	if timeout == 0 {
		timeout = m.cfg.DefaultAckTimeout
	}
	m.queues[name] = &mQueue{name: name, opts: opts, ackTimeout: timeout}
	return nil
}

func (m *model) bind(ex, q, key string) error {
	if m.exchanges[ex] == nil {
		return refusal(CodeExchangeNotFound)
	}
	if m.queues[q] == nil {
		return refusal(CodeQueueNotFound)
	}
	b := mBinding{ex, q, key}
	if !slices.Contains(m.bindings, b) {
		m.bindings = append(m.bindings, b)
	}
	return nil
}

func (m *model) unbind(ex, q, key string) error {
	if m.exchanges[ex] == nil {
		return refusal(CodeExchangeNotFound)
	}
	if m.queues[q] == nil {
		return refusal(CodeQueueNotFound)
	}
	m.bindings = slices.DeleteFunc(m.bindings, func(b mBinding) bool { return b == mBinding{ex, q, key} })
	return nil
}

func (m *model) deleteQueue(name string, now time.Time) (int, error) {
	m.advance(now)
	q := m.queues[name]
	if q == nil {
		return 0, refusal(CodeQueueNotFound)
	}
	for _, other := range m.queues {
		if other.opts.DeadLetterQueue == name {
			return 0, refusal(CodeInUse)
		}
	}
	m.bindings = slices.DeleteFunc(m.bindings, func(b mBinding) bool { return b.q == name })
	for len(q.consumers) > 0 {
		cs := q.consumers[0]
		m.removeConsumer(cs)
		m.effects = append(m.effects, Effect{Kind: EffectCancelled, Conn: cs.conn, Err: refusal(CodeQueueNotFound).(*Error),
			Delivery: Delivery{ConsumerTag: cs.tag, Queue: name}})
	}
	n := len(q.ready)
	for _, cn := range m.conns {
		cn.out = slices.DeleteFunc(cn.out, func(o *mOut) bool {
			if o.msg.queue == q {
				n++
				return true
			}
			return false
		})
	}
	delete(m.queues, name)
	return n, nil
}

// words splits a routing or binding key; the empty key has no words.
func words(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

func topicMatches(pattern, key []string) bool {
	if len(pattern) == 0 {
		return len(key) == 0
	}
	switch pattern[0] {
	case "#":
		for i := 0; i <= len(key); i++ {
			if topicMatches(pattern[1:], key[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(key) > 0 && topicMatches(pattern[1:], key[1:])
	default:
		return len(key) > 0 && key[0] == pattern[0] && topicMatches(pattern[1:], key[1:])
	}
}

// route returns the target queues, each once, sorted by name.
func (m *model) route(exName, key string) []*mQueue {
	ex := m.exchanges[exName]
	var names []string
	for _, b := range m.bindings {
		if b.ex != exName {
			continue
		}
		match := false
		switch ex.typ {
		case Direct:
			match = b.key == key
		case Fanout:
			match = true
		case Topic:
			match = topicMatches(words(b.key), words(key))
		}
		if match && !slices.Contains(names, b.q) {
			names = append(names, b.q)
		}
	}
	slices.Sort(names)
	qs := make([]*mQueue, len(names))
	for i, n := range names {
		qs[i] = m.queues[n]
	}
	return qs
}

func (m *model) heldBy(q *mQueue) (int, int) {
	n, bytes := len(q.ready), 0
	for _, msg := range q.ready {
		bytes += len(msg.body)
	}
	for _, cn := range m.conns {
		for _, o := range cn.out {
			if o.msg.queue == q {
				n++
				bytes += len(o.msg.body)
			}
		}
	}
	return n, bytes
}

func (m *model) hasRoom(q *mQueue, body int) bool {
	n, bytes := m.heldBy(q)
	if q.opts.MaxLength > 0 && n+1 > q.opts.MaxLength {
		return false
	}
	if q.opts.MaxBytes > 0 && int64(bytes+body) > q.opts.MaxBytes {
		return false
	}
	return true
}

func (m *model) expireDedup() {
	for len(m.dedup) > 0 && !m.now.Before(m.dedup[0].at.Add(m.cfg.DedupWindow)) {
		m.dedup = m.dedup[1:]
	}
}

func (m *model) dedupEnabled() bool { return m.cfg.DedupWindow > 0 }

func (m *model) publish(conn ConnID, seq uint64, ex, key, id, body string, now time.Time) {
	m.advance(now)
	refuse := func(code Code) {
		m.refused++
		m.effects = append(m.effects, Effect{Kind: EffectRefuse, Conn: conn, Seq: seq, Err: refusal(code).(*Error)})
	}
	if m.conns[conn] == nil {
		refuse(CodeProtocol)
		return
	}
	if id == "" || len(id) > MaxMessageIDLen || len(key) > MaxRoutingKeyLen {
		refuse(CodeInvalidArgument)
		return
	}
	if len(body) > m.cfg.MaxMessageSize {
		refuse(CodeTooLarge)
		return
	}
	if m.dedupEnabled() {
		m.expireDedup()
		if slices.ContainsFunc(m.dedup, func(s mSeen) bool { return s.id == ex+"\x00"+id }) {
			m.duplicates++
			if m.exchanges[ex] != nil {
				for _, q := range m.route(ex, key) {
					q.c.duplicates++
				}
			}
			m.effects = append(m.effects, Effect{Kind: EffectConfirm, Conn: conn, Seq: seq, Duplicate: true})
			return
		}
	}
	exch := m.exchanges[ex]
	if exch == nil {
		refuse(CodeExchangeNotFound)
		return
	}
	targets := m.route(ex, key)
	if len(targets) == 0 {
		exch.unroutable++
		refuse(CodeNoRoute)
		return
	}
	full := false
	for _, q := range targets {
		if !m.hasRoom(q, len(body)) {
			q.c.refused++
			full = true
		}
	}
	if full {
		refuse(CodeQueueFull)
		return
	}
	exch.published++
	for _, q := range targets {
		q.seq++
		q.ready = append(q.ready, &mMsg{id: id, exchange: ex, key: key, body: body, queue: q, seq: q.seq})
		q.c.published++
	}
	if m.dedupEnabled() {
		m.dedup = append(m.dedup, mSeen{ex + "\x00" + id, m.now}) // one user: scoped by exchange
		for len(m.dedup) > m.cfg.DedupMaxIDs {
			m.dedup = m.dedup[1:]
		}
	}
	m.effects = append(m.effects, Effect{Kind: EffectConfirm, Conn: conn, Seq: seq})
	m.dispatchAll()
}

// dispatchAll offers ready messages to consumers, queue by queue in name
// order. The core dispatches only the queues an operation touched; the two
// agree because no untouched queue ever has a ready message and a consumer
// with room.
func (m *model) dispatchAll() {
	names := make([]string, 0, len(m.queues))
	for n := range m.queues {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		q := m.queues[n]
		for len(q.ready) > 0 {
			var cs *mConsumer
			for i := range q.consumers {
				idx := (q.rr + i) % len(q.consumers)
				if c := q.consumers[idx]; c.unacked < c.prefetch {
					cs = c
					q.rr = (idx + 1) % len(q.consumers)
					break
				}
			}
			if cs == nil {
				break
			}
			msg := q.ready[0]
			q.ready = q.ready[1:]
			d := m.deliver(msg, cs.conn, cs, cs.timeout)
			m.effects = append(m.effects, Effect{Kind: EffectDeliver, Conn: cs.conn, Delivery: d})
		}
	}
}

func (m *model) deliver(msg *mMsg, conn ConnID, cs *mConsumer, timeout time.Duration) Delivery {
	cn := m.conns[conn]
	cn.lastTag++
	msg.count++
	q := msg.queue
	q.c.delivered++
	if msg.redelivered {
		q.c.redelivered++
	}
	o := &mOut{tag: cn.lastTag, msg: msg, consumer: cs}
	if timeout > 0 {
		o.deadline = m.now.Add(timeout)
	}
	ctag := ""
	if cs != nil {
		cs.unacked++
		ctag = cs.tag
	}
	cn.out = append(cn.out, o)
	return Delivery{ConsumerTag: ctag, Tag: o.tag, Queue: q.name, Exchange: msg.exchange, RoutingKey: msg.key,
		MessageID: msg.id, Body: []byte(msg.body), Redelivered: msg.redelivered, DeliveryCount: msg.count}
}

func (m *model) consume(conn ConnID, queue string, prefetch int, timeout time.Duration, now time.Time) (string, error) {
	m.advance(now)
	cn := m.conns[conn]
	if cn == nil {
		return "", refusal(CodeProtocol)
	}
	q := m.queues[queue]
	if q == nil {
		return "", refusal(CodeQueueNotFound)
	}
	cn.ctags++
	cs := &mConsumer{tag: fmt.Sprint("ctag-", cn.ctags), conn: conn, queue: q, prefetch: prefetch, timeout: timeout}
	if cs.timeout == 0 {
		cs.timeout = q.ackTimeout
	}
	cn.consumers = append(cn.consumers, cs)
	q.consumers = append(q.consumers, cs)
	m.dispatchAll()
	return cs.tag, nil
}

func (m *model) removeConsumer(cs *mConsumer) {
	cn := m.conns[cs.conn]
	cn.consumers = slices.DeleteFunc(cn.consumers, func(x *mConsumer) bool { return x == cs })
	q := cs.queue
	j := slices.Index(q.consumers, cs)
	q.consumers = slices.Delete(q.consumers, j, j+1)
	if j < q.rr {
		q.rr--
	}
	if q.rr >= len(q.consumers) {
		q.rr = 0
	}
}

func (m *model) cancel(conn ConnID, tag string, now time.Time) error {
	m.advance(now)
	cn := m.conns[conn]
	if cn == nil {
		return refusal(CodeProtocol)
	}
	for _, cs := range cn.consumers {
		if cs.tag == tag {
			m.removeConsumer(cs)
			return nil
		}
	}
	return refusal(CodeConsumerNotFound)
}

func (m *model) fetch(conn ConnID, queue string, now time.Time) (Delivery, bool, error) {
	m.advance(now)
	if m.conns[conn] == nil {
		return Delivery{}, false, refusal(CodeProtocol)
	}
	q := m.queues[queue]
	if q == nil {
		return Delivery{}, false, refusal(CodeQueueNotFound)
	}
	if len(q.ready) == 0 {
		return Delivery{}, false, nil
	}
	msg := q.ready[0]
	q.ready = q.ready[1:]
	return m.deliver(msg, conn, nil, q.ackTimeout), true, nil
}

// settle takes the named deliveries off the connection, or refuses.
func (m *model) settle(conn ConnID, tag uint64, multiple bool) ([]*mOut, error) {
	cn := m.conns[conn]
	if cn == nil {
		return nil, refusal(CodeProtocol)
	}
	if tag == 0 || tag > cn.lastTag {
		return nil, refusal(CodeUnknownDeliveryTag)
	}
	var picked []*mOut
	for _, o := range cn.out {
		if o.tag == tag || (multiple && o.tag < tag) {
			picked = append(picked, o)
		}
	}
	if len(picked) == 0 {
		return nil, refusal(CodeUnknownDeliveryTag)
	}
	cn.out = slices.DeleteFunc(cn.out, func(o *mOut) bool { return slices.Contains(picked, o) })
	for _, o := range picked {
		if o.consumer != nil {
			o.consumer.unacked--
		}
	}
	return picked, nil
}

func (m *model) ack(conn ConnID, tag uint64, multiple bool, now time.Time) error {
	m.advance(now)
	picked, err := m.settle(conn, tag, multiple)
	if err != nil {
		return err
	}
	for _, o := range picked {
		o.msg.queue.c.acked++
	}
	m.dispatchAll()
	return nil
}

func (m *model) nack(conn ConnID, tag uint64, multiple, requeue bool, now time.Time) error {
	m.advance(now)
	picked, err := m.settle(conn, tag, multiple)
	if err != nil {
		return err
	}
	msgs := make([]*mMsg, len(picked))
	for i, o := range picked {
		msgs[i] = o.msg
	}
	if requeue {
		m.requeue(msgs)
	} else {
		for _, msg := range msgs {
			m.deadLetter(msg)
		}
	}
	m.dispatchAll()
	return nil
}

// requeue: back to the head of each queue in enqueue order; those past the
// delivery limit are dead-lettered once all others are back.
func (m *model) requeue(msgs []*mMsg) {
	slices.SortFunc(msgs, func(a, b *mMsg) int {
		if c := strings.Compare(a.queue.name, b.queue.name); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	past := func(msg *mMsg) bool {
		return msg.queue.opts.DeliveryLimit > 0 && int(msg.count) >= msg.queue.opts.DeliveryLimit
	}
	back := map[*mQueue][]*mMsg{}
	var order []*mQueue
	for _, msg := range msgs {
		if past(msg) {
			continue
		}
		msg.redelivered = true
		if back[msg.queue] == nil {
			order = append(order, msg.queue)
		}
		back[msg.queue] = append(back[msg.queue], msg)
	}
	for _, q := range order {
		q.ready = append(back[q], q.ready...)
	}
	for _, msg := range msgs {
		if past(msg) {
			m.deadLetter(msg)
		}
	}
}

func (m *model) deadLetter(msg *mMsg) {
	src := msg.queue
	dlq := m.queues[src.opts.DeadLetterQueue]
	if src.opts.DeadLetterQueue == "" || dlq == nil || !m.hasRoom(dlq, len(msg.body)) {
		src.c.discarded++
		return
	}
	src.c.deadLettered++
	dlq.seq++
	dlq.c.deadLetterIn++
	dlq.ready = append(dlq.ready, &mMsg{id: msg.id, exchange: msg.exchange, key: msg.key, body: msg.body, queue: dlq, seq: dlq.seq})
}

func (m *model) close(conn ConnID, now time.Time) {
	m.advance(now)
	cn := m.conns[conn]
	if cn == nil {
		return
	}
	for len(cn.consumers) > 0 {
		m.removeConsumer(cn.consumers[0])
	}
	var msgs []*mMsg
	for _, o := range cn.out {
		msgs = append(msgs, o.msg)
	}
	cn.out = nil
	m.requeue(msgs)
	delete(m.conns, conn)
	m.dispatchAll()
}

func (m *model) tick(now time.Time) {
	m.advance(now)
	if m.dedupEnabled() {
		m.expireDedup()
	}
	var msgs []*mMsg
	for _, cn := range m.conns {
		cn.out = slices.DeleteFunc(cn.out, func(o *mOut) bool {
			if !o.deadline.IsZero() && !o.deadline.After(m.now) {
				msgs = append(msgs, o.msg)
				if o.consumer != nil {
					o.consumer.unacked--
				}
				return true
			}
			return false
		})
	}
	m.requeue(msgs)
	m.dispatchAll()
}

func (m *model) nextDeadline() (time.Time, bool) {
	var at time.Time
	ok := false
	for _, cn := range m.conns {
		for _, o := range cn.out {
			if !o.deadline.IsZero() && (!ok || o.deadline.Before(at)) {
				at, ok = o.deadline, true
			}
		}
	}
	if m.dedupEnabled() && len(m.dedup) > 0 {
		exp := m.dedup[0].at.Add(m.cfg.DedupWindow)
		if !ok || exp.Before(at) {
			at, ok = exp, true
		}
	}
	return at, ok
}

func (m *model) stats() Stats {
	s := Stats{Connections: len(m.conns), Bindings: len(m.bindings), DedupIDs: len(m.dedup),
		Duplicates: m.duplicates, Refused: m.refused, Exchanges: []ExchangeStats{}, Queues: []QueueStats{}}
	s.DedupEffectiveWindowMs = m.cfg.DedupWindow.Milliseconds()
	if !m.dedupEnabled() {
		s.DedupEffectiveWindowMs = 0
	}
	s.DedupWindowMs = s.DedupEffectiveWindowMs
	if m.dedupEnabled() && len(m.dedup) > 0 {
		u := DedupUserStats{IDs: len(m.dedup), Full: len(m.dedup) >= m.cfg.DedupMaxIDs, OldestAgeMs: m.now.Sub(m.dedup[0].at).Milliseconds()}
		s.DedupUsers = append(s.DedupUsers, u)
		if u.Full {
			s.DedupEffectiveWindowMs = min(s.DedupEffectiveWindowMs, u.OldestAgeMs)
		}
	}
	for name, ex := range m.exchanges {
		n := 0
		for _, b := range m.bindings {
			if b.ex == name {
				n++
			}
		}
		s.Exchanges = append(s.Exchanges, ExchangeStats{Name: name, Type: ex.typ.String(), Bindings: n, Published: ex.published, Unroutable: ex.unroutable})
	}
	for name, q := range m.queues {
		held, bytes := m.heldBy(q)
		s.Consumers += len(q.consumers)
		s.Queues = append(s.Queues, QueueStats{
			Name: name, Ready: len(q.ready), Unacked: held - len(q.ready), Bytes: int64(bytes), Consumers: len(q.consumers),
			Published: q.c.published, Duplicates: q.c.duplicates, Delivered: q.c.delivered, Redelivered: q.c.redelivered,
			Acked: q.c.acked, DeadLettered: q.c.deadLettered, Discarded: q.c.discarded, Refused: q.c.refused, DeadLetterIn: q.c.deadLetterIn,
		})
	}
	slices.SortFunc(s.Exchanges, func(a, b ExchangeStats) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Queues, func(a, b QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return s
}

func (m *model) held() []HeldMessage {
	names := make([]string, 0, len(m.queues))
	for n := range m.queues {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []HeldMessage
	for _, n := range names {
		q := m.queues[n]
		for _, msg := range q.ready {
			out = append(out, HeldMessage{Queue: n, MessageID: msg.id, DeliveryCount: msg.count, Redelivered: msg.redelivered})
		}
		var unacked []HeldMessage
		var seqs []uint64
		for conn, cn := range m.conns {
			for _, o := range cn.out {
				if o.msg.queue == q {
					unacked = append(unacked, HeldMessage{Queue: n, MessageID: o.msg.id, Unacked: true, Conn: conn, Tag: o.tag,
						DeliveryCount: o.msg.count, Redelivered: o.msg.redelivered})
					seqs = append(seqs, o.msg.seq)
				}
			}
		}
		idx := make([]int, len(unacked))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(seqs[a], seqs[b]) })
		for _, i := range idx {
			out = append(out, unacked[i])
		}
	}
	return out
}

func (m *model) drain() []Effect {
	e := m.effects
	m.effects = nil
	return e
}
