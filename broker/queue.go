package broker

import "time"

// queue holds messages until a consumer acks them. Ready messages wait in
// FIFO order in ready; unacked ones are owned by a connection and only
// counted here.
type queue struct {
	name       string
	owner      string // the user who declared it
	opts       QueueOptions
	ackTimeout time.Duration // effective: opts.AckTimeout or the core default

	ready   ring
	unacked int
	// unackedList links the unacked copies (unacked of them), in no
	// particular order: added at deliver, removed at release, both O(1).
	unackedList *message
	bytes       int64 // body bytes of ready + unacked messages
	seq         uint64

	consumers consumerList // in registration order, with the round-robin cursor

	bindings map[exchangeBinding]struct{}
	dlq      *queue
	dlqUsers int // queues that name this one as their dead-letter queue
	// Scratch marks that let one operation visit each queue once without
	// allocating a set.
	routeMark uint64
	touchMark uint64
	// behind: a dispatch stopped at its budget of closing consumers to
	// skip (consumer.go nextConsumer); Core.behind lists it for Tick.
	behind bool

	c queueCounters
}

type exchangeBinding struct {
	ex  *exchange
	key string
}

type queueCounters struct {
	published, duplicates, delivered, redelivered uint64
	acked, deadLettered, discarded, refused       uint64
	deadLetterIn                                  uint64
}

// add adds o's counters to a.
func (a *queueCounters) add(o *queueCounters) {
	a.published += o.published
	a.duplicates += o.duplicates
	a.delivered += o.delivered
	a.redelivered += o.redelivered
	a.acked += o.acked
	a.deadLettered += o.deadLettered
	a.discarded += o.discarded
	a.refused += o.refused
	a.deadLetterIn += o.deadLetterIn
}

func newQueue(name string, opts QueueOptions, ackTimeout time.Duration, dlq *queue) *queue {
	return &queue{
		name:       name,
		opts:       opts,
		ackTimeout: ackTimeout,
		bindings:   make(map[exchangeBinding]struct{}),
		dlq:        dlq,
	}
}

// held is the number of messages the queue is responsible for.
func (q *queue) held() int { return q.ready.len() + q.unacked }

// linkUnacked adds a message that just became unacked to q's list.
func (q *queue) linkUnacked(m *message) {
	m.uprev, m.unext = nil, q.unackedList
	if q.unackedList != nil {
		q.unackedList.uprev = m
	}
	q.unackedList = m
}

// unlinkUnacked removes a message that stops being unacked from q's list.
func (q *queue) unlinkUnacked(m *message) {
	if m.uprev != nil {
		m.uprev.unext = m.unext
	} else {
		q.unackedList = m.unext
	}
	if m.unext != nil {
		m.unext.uprev = m.uprev
	}
	m.uprev, m.unext = nil, nil
}

// hasRoomFor reports whether one more message of n body bytes fits the
// queue's MaxLength and MaxBytes.
func (q *queue) hasRoomFor(n int) bool {
	if q.opts.MaxLength > 0 && q.held()+1 > q.opts.MaxLength {
		return false
	}
	if q.opts.MaxBytes > 0 && q.bytes+int64(n) > q.opts.MaxBytes {
		return false
	}
	return true
}

// ring is a growable double-ended queue of messages: requeued messages go
// to the front, new ones to the back.
type ring struct {
	buf  []*message // len(buf) is zero or a power of two
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) grow() {
	size := len(r.buf) * 2
	if size == 0 {
		size = 8
	}
	buf := make([]*message, size)
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring) pushBack(m *message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = m
	r.n++
}

func (r *ring) pushFront(m *message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.head = (r.head - 1) & (len(r.buf) - 1)
	r.buf[r.head] = m
	r.n++
}

func (r *ring) popFront() *message {
	if r.n == 0 {
		return nil
	}
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return m
}

// at returns the i-th message from the front.
func (r *ring) at(i int) *message { return r.buf[(r.head+i)&(len(r.buf)-1)] }

// clearAll empties the ring and hands each message to fn in order.
func (r *ring) clearAll(fn func(*message)) {
	for r.n > 0 {
		fn(r.popFront())
	}
}
