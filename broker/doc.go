// Package broker is CipherMQ's broker core: a deterministic state machine
// that owns exchanges, queues, bindings, consumers, unacked deliveries, the
// publish dedup window and ack deadlines.
//
// # Shape
//
// The core does no I/O. It starts no goroutines, reads no clock and draws
// no randomness: every method that can start or fire a timer takes the
// current time, and the core keeps the latest time it has seen, so a clock
// stepping back cannot reorder anything. Outputs are return values, errors,
// and Effects that the driver collects with Drain after each call:
//
//	core := broker.New(cfg)          // default_exchange → default_key → default_queue
//	core.Open(conn, now)
//	core.Publish(conn, &p, now)      // → EffectConfirm or EffectRefuse for p.Seq
//	for _, e := range core.Drain() { // confirms, refusals, deliveries, cancellations, in order
//		...
//	}
//	if at, ok := core.NextDeadline(); ok { /* arm a timer */ }
//	core.Tick(now)                   // ack timeouts and dedup expiry that are due
//
// The TCP server (broker/server) and the simulator (sim) are the two
// drivers; both call this same code, serialised (the core is not safe for
// concurrent use), through one driver loop (broker/driver) that drains
// the outbox after every step and routes each effect to its connection's
// session, and EffectPersist's records to the durable log. Given the same calls with the same times, the core
// produces the same effects, bit for bit: map iteration never decides an
// output, and ties are broken by names and sequence numbers.
//
// # A message's life
//
// Publish runs these steps in order and stops at the first refusal, which
// is reported as EffectRefuse with a Code and leaves no trace in any queue:
//
//	validate   id 1..255 bytes, body <= MaxMessageSize, key <= 255 bytes
//	dedup      id accepted within DedupWindow? → EffectConfirm{Duplicate}, nothing enqueued
//	route      the exchange's bindings give the target queues, each once, in name order;
//	           the nameless default exchange ("", or a vhost's prefix alone) gives the
//	           queue of that vhost named by the routing key, without a binding
//	admit      every target queue has room (MaxLength, MaxBytes)? all or nothing
//	store      a copy goes to the tail of each target queue (name order)
//	confirm    EffectConfirm: the publisher may forget the message now
//	deliver    ready messages are pushed to consumers with room (EffectDeliver)
//
// A publish may carry a shared Prefix (the repeated header of cmq1
// envelopes, sent once per connection over the native protocol): the
// logical body is Prefix ‖ Body everywhere the core reasons about bodies
// (limits, MaxBytes, stats, the durable log, which stores it joined). The
// core keeps the pointer, so every message of a session shares one copy;
// a Delivery hands it on and the session decides how to send it.
//
// Store happens before confirm, and confirm before any delivery: a
// confirmed message is always in every queue it was routed to (unless a
// test-only Mutation is on).
//
// Each copy in a queue then moves through these states (the arrow on the
// right re-enters READY of the dead-letter queue, as a new copy):
//
//	             publish (store)
//	                   |
//	                   v
//	+-----------> READY <--------------------------+
//	|                  |                           |
//	| requeue at       | deliver: push to a        | the DLQ has room:
//	| the head:        | consumer with room        | tail of the dead-letter
//	| nack(requeue),   | (round robin), or Fetch   | queue, delivery count 0
//	| ack timeout,     v                           |
//	| conn close  +- UNACKED -----------------> DEAD-LETTER ----> discarded, counted
//	|             |     |    reject,                          (no DLQ, or it is full)
//	+-------------+     |    nack(no requeue),
//	                   ack   or a requeue after
//	                    |    DeliveryLimit deliveries
//	                    v
//	                  gone
//
// A delivery is one attempt: it gets a fresh tag on its connection (tags
// are 1, 2, 3, ... per connection and never reused) and increments the
// message's DeliveryCount (1 on the first delivery). An ack, nack or reject
// names a tag; if that attempt is no longer outstanding (never issued,
// settled, or requeued by an ack timeout since) it is refused with
// CodeUnknownDeliveryTag and nothing changes, so a late ack can never settle
// a newer attempt. With multiple, every outstanding tag up to the given one
// is settled at once.
//
// A requeued message is marked Redelivered and keeps its delivery count;
// the next delivery increments it. When a consumer is cancelled its
// outstanding deliveries stay valid until acked or until the connection
// closes. When a connection closes, all its outstanding deliveries are
// requeued (in bounded steps for a large connection: see "Cost under
// hostile load" below). When a queue is deleted, its consumers get EffectCancelled and
// every message it held is discarded (the count is returned).
//
// # Durable queues
//
// A queue declared with QueueOptions.Durable (its bindings, the exchanges
// they bind to, and its messages) is written to the driver's log: the core
// emits EffectPersist with record.Record values and a token, and the order
// becomes store → persist → confirm. The confirm of a publish that reached
// a durable queue is held until the driver calls Persisted with a token at
// least as high (after its fsync); a connection's later confirms and
// refusals queue behind it, so each connection still sees its outcomes in
// publish order. Acks, requeues' deliveries, dead-lettering and deletions
// of durable queues are persisted too, without holding anything.
// StorageFailed drops the held outcomes (their messages are enqueued but
// maybe not on disk: neither a confirm nor a refusal would be true) and
// names their connections for the driver to close with CodeUnavailable;
// it refuses durable publishes, and resends of them, until
// StorageRecovered; in-memory queues are unaffected. Restore builds a
// core from what wal.Open (broker/wal) recovered.
//
// # Order guarantees
//
//   - Within a queue, messages that were never delivered leave in enqueue
//     order; with one consumer and no redelivery that is publish order.
//   - Messages put back (nack, timeout, close) go to the head of their
//     queue, in their original enqueue order. A large close puts them
//     back a step budget at a time, the last ones in enqueue order first,
//     each in front of the ones before: the queue's final arrangement is
//     the same, but messages requeued early may be delivered to waiting
//     consumers before ones requeued later (they are all redeliveries).
//   - A message routed to several queues is stored and dispatched in queue
//     name order; when one call frees room in several queues they are
//     dispatched in name order too.
//   - Among a queue's consumers, deliveries go round robin to those with
//     room under their prefetch.
//   - Drain returns effects in the order they happened.
//
// # Time
//
// Ack deadlines come from the consumer's AckTimeout, else the queue's, else
// Config.DefaultAckTimeout (zero: none); a Fetch uses the queue's. Deadlines
// of one timeout value are appended in time order, so each value has a FIFO
// instead of a heap; settled deliveries are skipped lazily. The dedup
// window keeps (id key, time) pairs in a FIFO bounded by DedupWindow and
// DedupMaxIDs; ids are compared by a 128-bit hash key. NextDeadline is the
// earliest of both; Tick processes everything due.
//
// # Cost under hostile load (issue #11)
//
// A connection's consumers are in a map by tag and each queue's in a
// doubly linked list in registration order with a round-robin cursor, so
// Consume, Cancel and a consumer's removal are O(1) whatever the number of
// consumers. Each queue links its unacked copies, so DeleteQueue costs
// O(what the queue holds) (plus a sort of its unacked copies, for a
// deterministic discard order) and never visits other connections.
//
// Close is cut into bounded steps (teardown.go). The connection is closed
// at once: out of the connection table (its frames are refused, its ID is
// free), no delivery goes to it, and its consumers no longer count for
// routing (dispatch removes those it meets). Its consumers are then
// removed and its unacked deliveries requeued at most
// Config.TeardownStep steps per core call, in Close and in the Ticks that
// follow (NextDeadline says "now" while one is pending). A message's life
// gains no state: a closing connection's delivery stays unacked (counted
// by its queue, still discarded if the queue is deleted, still requeued
// by its ack timeout) until its step requeues it, and from then it is a
// ready message like any other, at the head of its queue in its original
// enqueue order, marked redelivered, offered at once to the other
// consumers. Those past the delivery limit are dead-lettered after all the
// others, in order, as before. A connection holding less than one budget
// is torn down within Close, exactly as the one-shot Close did.
//
// A connection crossing its outbound bound costs O(1): its consumers stay
// in their queues' room sets and are parked when a dispatch meets them;
// the return below the bound unparks them in bounded steps (outbound.go
// explains the amortisation). Queues and exchanges are also kept in
// name-ordered AVL indexes (worst-case O(log n) at declare and delete),
// so StatsSummary is independent of the broker's size and StatsPage costs
// O(log n + page); Stats (everything) is for tests. Dispatch finds the
// next consumer with room in O(log consumers) (roomset.go), skipping at
// most one TeardownStep budget of closing or full consumers per call.
//
// # Refusals
//
// Refusals are *Error values with a stable Code (the numbers are part of
// the wire protocol); a refused command changes nothing. Broken internal
// invariants are bugs and panic instead.
//
//	CodeInvalidArgument     empty or oversized name, id or key; whitespace or control
//	                        characters in a name; negative option; unknown exchange type;
//	                        a topic binding past MaxTopicStates (the exchange's worst-case
//	                        match)
//	CodeTooLarge            body above Config.MaxMessageSize
//	CodeProtocol            the connection was never opened (or is closed)
//	CodeExchangeNotFound    publish or bind to an exchange that does not exist
//	CodeQueueNotFound       bind, consume, fetch or delete of a missing queue; a
//	                        dead-letter queue that does not exist at declare time
//	CodeMismatch            redeclaring an exchange with another type or a queue with
//	                        other options
//	CodeConsumerNotFound    cancelling a consumer tag the connection does not have
//	CodeReserved            deleting default_exchange
//	CodeInUse               deleting a queue that is another queue's dead-letter
//	                        queue; a consumer tag already used on the connection
//	CodeNoRoute             no binding of the exchange matches the routing key
//	CodeQueueFull           a target queue is at MaxLength or MaxBytes (ready and
//	                        unacked count); nothing was enqueued anywhere
//	CodeUnknownDeliveryTag  ack, nack or reject of a tag that is not outstanding
//	CodeResourceLimit       MaxQueues, MaxExchanges, MaxBindings or MaxConsumers reached
//
// Refused publishes are counted (Stats.Refused; per queue "refused" when a
// full queue caused it; per exchange "unroutable"), and so is every message
// that leaves a queue without an ack ("dead_lettered", "discarded"):
// nothing disappears silently.
//
// # Testing hooks
//
// testdata/scenarios/*.txt walk through these life cycles command by
// command with the exact effects (TestScenarios). CheckInvariants
// cross-checks the bookkeeping (for tests and the simulator); Held lists every message the core holds, which is what an
// in-memory broker loses when its process dies. Config.Mutations switch off
// single guarantees on purpose so that checkers can be shown to fail; they
// are for tests only.
package broker
