package broker

import (
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/broker/record"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// ConnID names one client connection. The driver (server or simulator) picks
// the IDs; the core only requires that an ID is not reused while open.
type ConnID uint64

// ExchangeType selects how an exchange routes a publish to queues.
type ExchangeType uint8

const (
	// Direct routes to the queues bound with exactly the publish's routing key.
	Direct ExchangeType = iota + 1
	// Fanout routes to every bound queue; routing keys are ignored.
	Fanout
	// Topic matches dot-separated routing keys against binding patterns in
	// which "*" matches one word and "#" matches zero or more words (AMQP rules).
	Topic
)

// String returns the lower-case name used on the wire and in configs.
func (t ExchangeType) String() string {
	switch t {
	case Direct:
		return "direct"
	case Fanout:
		return "fanout"
	case Topic:
		return "topic"
	}
	return fmt.Sprintf("exchange-type(%d)", uint8(t))
}

// ParseExchangeType parses "direct", "fanout" or "topic".
func ParseExchangeType(s string) (ExchangeType, error) {
	switch s {
	case "direct":
		return Direct, nil
	case "fanout":
		return Fanout, nil
	case "topic":
		return Topic, nil
	}
	return 0, Errorf(CodeInvalidArgument, "unknown exchange type %q: use direct, fanout or topic", s)
}

// Code is a stable, documented reason code. The numeric values are part of
// the native wire protocol and must never be renumbered: they, their names
// and meanings are the catalogue of broker/wire (wire.Codes, printed in
// docs/protocol.md §10); the constants below are its values in this type.
type Code uint16

const (
	CodeOK Code = Code(wire.CodeOK)

	// Client errors about the request itself.
	CodeMalformed       = Code(wire.CodeMalformed)       // frame or line could not be parsed
	CodeInvalidArgument = Code(wire.CodeInvalidArgument) // a field is out of range or empty
	CodeTooLarge        = Code(wire.CodeTooLarge)        // message or frame above the configured limit
	CodeUnknownCommand  = Code(wire.CodeUnknownCommand)  // command or frame type not understood
	CodeProtocol        = Code(wire.CodeProtocol)        // valid frame at the wrong time (e.g. publish before hello)

	// Names and topology.
	CodeExchangeNotFound = Code(wire.CodeExchangeNotFound)
	CodeQueueNotFound    = Code(wire.CodeQueueNotFound)
	CodeMismatch         = Code(wire.CodeMismatch) // redeclared with another type or other options
	CodeConsumerNotFound = Code(wire.CodeConsumerNotFound)
	CodeReserved         = Code(wire.CodeReserved) // the name is reserved (e.g. deleting the default exchange)
	CodeInUse            = Code(wire.CodeInUse)    // e.g. a dead-letter queue still referenced

	// Publish refusals.
	CodeNoRoute   = Code(wire.CodeNoRoute)   // the exchange routed the message to no queue
	CodeQueueFull = Code(wire.CodeQueueFull) // max length or max bytes of a target queue reached

	// Acknowledgements.
	CodeUnknownDeliveryTag = Code(wire.CodeUnknownDeliveryTag) // stale (redelivered since) or never issued

	// Resources and server state.
	CodeResourceLimit = Code(wire.CodeResourceLimit) // too many connections, queues, consumers, ...
	CodeTimeout       = Code(wire.CodeTimeout)       // handshake or heartbeat deadline missed
	CodeShuttingDown  = Code(wire.CodeShuttingDown)
	CodeUnavailable   = Code(wire.CodeUnavailable) // e.g. durable storage failing
	CodeInternal      = Code(wire.CodeInternal)

	// Identity and permissions.
	CodeAuthFailed    = Code(wire.CodeAuthFailed)    // authentication failed or required; the same answer for an unknown user and a wrong password
	CodeAccessRefused = Code(wire.CodeAccessRefused) // the user may not do this operation on this resource (the message names both)
)

// Error is the error type of every refusal the core makes. Its Code travels
// on the wire; its Msg is for humans and says what to do.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Msg, e.Code) }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// QueueOptions are fixed when a queue is first declared. Zero values mean
// "no limit" / "disabled" except where noted.
type QueueOptions struct {
	// MaxLength bounds the messages the queue holds (ready + unacked).
	// A publish that would exceed it is refused with CodeQueueFull.
	MaxLength int
	// MaxBytes bounds the body bytes the queue holds (ready + unacked).
	MaxBytes int64
	// AckTimeout: a delivery not acked within this time is requeued
	// (redelivered, delivery count + 1). Zero: the core's default.
	AckTimeout time.Duration
	// DeliveryLimit: a message delivered this many times that comes back
	// again (nack, timeout, disconnect) is dead-lettered instead. Zero: no limit.
	DeliveryLimit int
	// DeadLetterQueue receives rejected messages and messages past the
	// delivery limit. By convention it is named <queue>.dlq
	// (DeadLetterQueueName); the queues the core declares itself have one.
	// Empty: such messages are discarded and counted, which a declaration
	// should ask for explicitly with Discard.
	DeadLetterQueue string
	// Discard says that rejected messages and messages past the delivery
	// limit are dropped (counted as discarded): the explicit opt-out of a
	// dead-letter queue. It cannot be combined with DeadLetterQueue.
	// A queue declared with neither also discards, for clients that
	// predate this option; the CLI never declares such a queue.
	Discard bool
	// Durable: the queue, its bindings (and the exchanges they bind to) and
	// its messages are written to the driver's log (EffectPersist) and
	// survive a restart. A publish to a durable queue is confirmed only
	// after the driver reports its records durable with Persisted.
	Durable bool
}

// ConsumeOptions register a push consumer on a connection.
type ConsumeOptions struct {
	Queue string
	// Tag names the consumer on its connection; empty lets the core pick one.
	Tag string
	// Prefetch is the maximum unacked deliveries to this consumer (>= 1;
	// zero means the core's default).
	Prefetch int
	// AckTimeout overrides the queue's ack timeout for this consumer when > 0.
	AckTimeout time.Duration
}

// Publish is one publish command. The byte slices are only read during the
// call: the core copies what it keeps, so drivers may reuse their buffers.
type Publish struct {
	// Seq is the publisher's per-connection sequence number; the core echoes
	// it in the Confirm or Refuse effect.
	Seq uint64
	// User is the authenticated user publishing. It scopes deduplication:
	// a message id remembered for one user (and exchange) never makes
	// another user's publish a duplicate, and each user's remembered ids
	// are bounded on their own, so no user can evict another's.
	User       string
	Exchange   []byte
	RoutingKey []byte
	MessageID  []byte
	// Prefix, if not nil, is the shared leading part of the message: the
	// logical body is Prefix ‖ Body, and that is what limits, accounting,
	// consumers and the durable log see. The core keeps the pointer (not a
	// copy), so publishes that share a Prefix share its memory.
	Prefix *Prefix
	Body   []byte
}

// Prefix is an immutable leading part shared by the bodies of many messages
// (the repeated signed session header of cmq1 envelopes, say). Messages
// hold a pointer to it; the garbage collector frees it once no message and
// no connection refers to it, so no intern table or reference count is
// needed. A nil *Prefix is the empty prefix.
type Prefix struct {
	b []byte
}

// NewPrefix returns a Prefix holding a copy of b.
func NewPrefix(b []byte) *Prefix {
	return &Prefix{b: append([]byte(nil), b...)}
}

// Bytes returns the prefix's bytes; never modify them.
func (p *Prefix) Bytes() []byte {
	if p == nil {
		return nil
	}
	return p.b
}

// Len is len(p.Bytes()).
func (p *Prefix) Len() int {
	if p == nil {
		return 0
	}
	return len(p.b)
}

// Delivery is one delivery attempt of a message to a connection.
type Delivery struct {
	ConsumerTag string // empty for fetch
	// Tag names this delivery attempt on its connection. Tags increase
	// strictly per connection and are never reused, so an ack for an older
	// attempt can never be applied to a newer one.
	Tag        uint64
	Queue      string
	Exchange   string
	RoutingKey string
	MessageID  string
	// The message's logical body is Prefix ‖ Body (Prefix nil: Body alone).
	// A session that cannot carry the prefix by reference writes both;
	// AppendBody joins them. Both are shared and immutable: never modify.
	Prefix        *Prefix
	Body          []byte
	Redelivered   bool
	DeliveryCount uint32 // 1 on the first delivery
	// DeadLetterReason is why the message was dead-lettered into this
	// queue (wire.ReasonNone: it was not, or no reason was given).
	DeadLetterReason wire.RejectReason
}

// AppendBody appends the logical body, Prefix ‖ Body, to dst.
func (d *Delivery) AppendBody(dst []byte) []byte {
	dst = append(dst, d.Prefix.Bytes()...)
	return append(dst, d.Body...)
}

// BodyLen is the length of the logical body.
func (d *Delivery) BodyLen() int { return d.Prefix.Len() + len(d.Body) }

// EffectKind says what an Effect asks the driver to do.
type EffectKind uint8

const (
	// EffectConfirm: publish Seq of Conn is in every target queue
	// (Duplicate: it was already accepted inside the dedup window).
	EffectConfirm EffectKind = iota + 1
	// EffectRefuse: publish Seq of Conn was refused; Err says why.
	EffectRefuse
	// EffectDeliver: write Delivery to Conn.
	EffectDeliver
	// EffectCancelled: the core ended consumer Delivery.ConsumerTag of Conn
	// (for example because its queue was deleted); Delivery.Queue names the
	// queue and Err says why. Unacked deliveries of that consumer stay
	// outstanding on the connection only if their queue still exists.
	EffectCancelled
	// EffectPersist: append Records to the durable log. Seq is the persist
	// token; once every record up to this token is durable the driver calls
	// Persisted(token), which releases the confirms waiting for it. Conn is 0.
	EffectPersist
)

// String names the effect kind for logs and test failures.
func (k EffectKind) String() string {
	switch k {
	case EffectConfirm:
		return "confirm"
	case EffectRefuse:
		return "refuse"
	case EffectDeliver:
		return "deliver"
	case EffectCancelled:
		return "cancelled"
	case EffectPersist:
		return "persist"
	}
	return fmt.Sprintf("effect-kind(%d)", uint8(k))
}

// Effect is one output of the core, drained by the driver with Drain.
type Effect struct {
	Kind      EffectKind
	Conn      ConnID
	Seq       uint64
	Duplicate bool
	// Durable (EffectConfirm only): every queue the publish was routed to
	// is durable, so the confirm is released only once the message is on
	// disk in all of them. False: in memory only in at least one queue.
	// For a duplicate it describes the queues the message routes to now.
	Durable  bool
	Err      *Error
	Delivery Delivery
	Records  []record.Record // EffectPersist only
}
