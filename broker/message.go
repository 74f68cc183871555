package broker

import "github.com/ciphermq/ciphermq/broker/wire"

// msgState is where a message record is in its life cycle.
type msgState uint8

const (
	stateFree    msgState = iota // in the core's free list
	stateReady                   // in its queue's ready ring
	stateUnacked                 // delivered, owned by a connection
	stateLimbo                   // released from a connection, about to be requeued, dead-lettered or dropped
)

// message is one copy of a published message in one queue. A publish routed
// to three queues makes three records that share the id, routing key and
// body (which are immutable), so per-queue state stays independent.
type message struct {
	id         string
	exchange   string
	routingKey string
	body       []byte  // the part after prefix
	prefix     *Prefix // shared leading part of the body; nil if none

	q           *queue
	publisher   string // the publishing user its copy counts against (Usage.QueuedBytes); "" for none
	seq         uint64 // enqueue order within q; requeues restore this order
	storeSeq    uint64 // the durable log's message number; 0 unless q is durable
	deliveries  uint32 // delivery attempts so far
	redelivered bool
	state       msgState
	// reason is why this copy was dead-lettered (wire.ReasonNone if it
	// was not). One byte in what was padding after state: the record
	// stays in its size class (TestMessageRecordSize).
	reason wire.RejectReason

	// Set while unacked.
	owner     *connection
	tag       uint64
	consumer  *consumer // nil for a fetched message
	deadlines *deadlineQueue
	// uprev and unext link the unacked copies of q (queue.unackedList), so
	// that deleting a queue finds them without visiting connections.
	uprev, unext *message
}

// size is the length of the logical body, prefix ‖ body: what limits,
// accounting and stats count.
func (m *message) size() int { return m.prefix.Len() + len(m.body) }

// maxFreeMessages bounds the free list of message records; beyond it
// records are left to the garbage collector.
const maxFreeMessages = 4096

func (c *Core) newMessage() *message {
	if n := len(c.free); n > 0 {
		m := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		return m
	}
	return &message{}
}

// freeMessage returns a record whose message has left the core (acked,
// discarded or dropped). Stale references to it in connection and deadline
// lists are harmless: they are validated by (owner, tag, state), and tags are
// never reused on a connection.
func (c *Core) freeMessage(m *message) {
	*m = message{}
	if len(c.free) < maxFreeMessages {
		c.free = append(c.free, m)
	}
}
