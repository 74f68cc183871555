package broker

import (
	"fmt"
	"time"
)

// Core is the broker's deterministic state machine: exchanges, queues,
// bindings, consumers, unacked deliveries, the dedup window and ack
// deadlines. It is not safe for concurrent use: a driver serialises calls
// (a mutex or one owning goroutine). Every input carries the current time;
// every output is an Effect collected by Drain, a return value or an error.
type Core struct {
	cfg Config
	now time.Time // the latest time seen; never goes backwards

	exchanges map[string]*exchange
	queues    map[string]*queue
	// exchangeIndex and queueIndex hold the same objects in name order, so
	// that a stats page costs O(log n + page) and never sorts.
	exchangeIndex nameIndex[*exchange]
	queueIndex    nameIndex[*queue]
	conns         map[ConnID]*connection
	// closing lists the closed connections whose teardown is not done,
	// oldest first (teardown.go); behind, the queues whose dispatch
	// stopped at its skip budget.
	closing    []*teardown
	behind     []*queue
	unparking  []*connection // writable again, with parked consumers (outbound.go)
	skips      int           // closing or full consumers dispatch skipped in this call
	nBindings  int
	nConsumers int
	usage      map[string]*Usage // per user; only users holding something

	// defaultExchanges and defaultQueues index the default vhost's
	// objects only: its names have no vhost prefix and interleave with
	// other vhosts' in the indexes above, so a default-vhost stats page
	// walks these (EachVhostQueue). A named vhost's names share their
	// prefix and are contiguous in the indexes above.
	defaultExchanges nameIndex[*exchange]
	defaultQueues    nameIndex[*queue]

	dedup     dedupScopes
	deadlines []*deadlineQueue // sorted by timeout

	out, spare []Effect

	// Scratch state reused across calls to avoid per-call allocations.
	router     router
	nameBuf    []byte // route's scratch: a default-exchange target's core name
	scratch    []*message
	touched    []*queue
	touchEpoch uint64
	free       []*message

	// work counts the elementary steps of teardown and listing operations
	// (a consumer removed, an unacked copy discarded, a stats entry
	// built), so that tests can prove their cost without timing them.
	work uint64
	// roomWork counts the steps of the queues' room indexes (roomset.go),
	// apart from work so that work stays "what a command removes or lists".
	roomWork uint64

	duplicates uint64 // publishes confirmed as duplicates
	refused    uint64 // publishes refused, for any reason
	// deleted sums the counters of deleted queues, so that broker-wide
	// totals (DeletedQueueCounters plus the live queues) never go back.
	deleted queueCounters

	persist persistState

	mem       memAccount // MemoryUsage's running totals (memory.go)
	restoring bool       // Restore is rebuilding bindings: MaxTopicStates is not enforced
}

// New returns a core configured by cfg (zero fields take their defaults).
// Unless cfg.NoDefaults is set it declares the seed protocol's topology:
// exchange default_exchange (direct), queue default_queue with its
// dead-letter queue default_queue.dlq, and the binding
// default_exchange --default_key--> default_queue.
func New(cfg Config) *Core {
	cfg = cfg.withDefaults()
	c := &Core{
		cfg:       cfg,
		exchanges: make(map[string]*exchange),
		queues:    make(map[string]*queue),
		conns:     make(map[ConnID]*connection),
		usage:     make(map[string]*Usage),
		dedup:     newDedupScopes(cfg.DedupWindow, cfg.DedupMaxIDs),
	}
	if cfg.Mutations.NoDedup {
		c.dedup.window = 0
	}
	if !cfg.NoDefaults {
		mustNil(c.DeclareExchange(DefaultExchange, Direct))
		mustNil(c.DeclareQueue(DefaultDeadLetterQueue, QueueOptions{}))
		mustNil(c.DeclareQueue(DefaultQueue, QueueOptions{DeadLetterQueue: DefaultDeadLetterQueue}))
		mustNil(c.Bind(DefaultExchange, DefaultQueue, DefaultRoutingKey))
	}
	return c
}

func mustNil(err error) {
	if err != nil {
		panic(fmt.Sprintf("broker: declaring the default topology: %v", err))
	}
}

// advance moves the core's clock to now unless now is earlier: a driver's
// clock stepping back must not reorder deadlines.
//
// Every command calls it first, so it also starts the command's budget of
// consumers that dispatch may skip (nextConsumer).
func (c *Core) advance(now time.Time) {
	c.skips = 0
	if now.After(c.now) {
		c.now = now
	}
}

// conn returns an open connection or a CodeProtocol refusal.
func (c *Core) conn(id ConnID) (*connection, error) {
	cn := c.conns[id]
	if cn == nil {
		return nil, Errorf(CodeProtocol, "connection %d is not open: the driver must call Open first", id)
	}
	return cn, nil
}

// Open registers a new connection. Opening an ID that is already open is a
// driver bug and panics.
func (c *Core) Open(conn ConnID, now time.Time) {
	c.advance(now)
	if c.conns[conn] != nil {
		panic(fmt.Sprintf("broker: connection %d opened twice", conn))
	}
	c.conns[conn] = &connection{id: conn}
}

// Close forgets a connection: its consumers are removed and its unacked
// deliveries go back to the head of their queues in their original order,
// marked redelivered (or are dead-lettered past the delivery limit), then
// they are offered to the remaining consumers. Closing an unknown
// connection does nothing.
//
// The connection is closed at once (its ID is free, its frames are
// refused, it gets no delivery); the removals and requeues run in bounded
// steps, Config.TeardownStep per call, here and in the following Ticks
// (teardown.go). A connection holding less than one budget is done here.
func (c *Core) Close(conn ConnID, now time.Time) {
	c.advance(now)
	cn := c.conns[conn]
	if cn == nil {
		return
	}
	delete(c.conns, conn) // its held outcomes are dropped by Persisted
	c.startTeardown(cn)
	c.runTeardowns()
}

// Drain returns the effects produced since the previous Drain, in order.
// The returned slice is valid until the next call to Drain, which reuses
// it. (Two buffers alternate; the spare one is overwritten, not cleared, so
// it may keep up to one batch of old bodies reachable: bounded, and cheaper
// than clearing on every call.)
func (c *Core) Drain() []Effect {
	res := c.out
	c.out = c.spare[:0]
	c.spare = res
	return res
}

func (c *Core) emitConfirm(conn ConnID, seq uint64, dup bool) {
	c.emitOutcome(Effect{Kind: EffectConfirm, Conn: conn, Seq: seq, Duplicate: dup}, false)
}

func (c *Core) emitRefuse(conn ConnID, seq uint64, err *Error) {
	c.refused++
	c.emitOutcome(Effect{Kind: EffectRefuse, Conn: conn, Seq: seq, Err: err}, false)
}
