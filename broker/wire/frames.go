package wire

// Native protocol frame definitions. docs/protocol.md is the normative text;
// this file is its Go mirror. Numeric values are part of the protocol and are
// never renumbered.
//
// Connection start: the client sends the 8-byte Preamble, then a Hello frame;
// the server answers HelloOK (or Error + close). After that both sides send
// frames freely (pipelining). Every frame is
//
//	uint32 big-endian length L | uint8 type | payload (L-1 bytes)
//
// L counts the type byte and the payload, not the length field itself; frame
// size limits count the whole frame (4 + L). Integers in payloads are
// minimal unsigned varints (encoding/binary Uvarint) unless noted; strings
// and byte fields are a uvarint length followed by the bytes. Field order is
// the struct field order below.

// Preamble opens every native connection. Its first byte is not printable
// ASCII, so a listener can tell it from the text protocol (which starts with
// a lower-case command word) and from AMQP ("AMQP").
var Preamble = [8]byte{0xC3, 'C', 'M', 'Q', '\r', '\n', 0x1A, ProtocolVersion}

// ProtocolVersion is the native protocol version this package speaks.
const ProtocolVersion = 1

// FrameType is the second field of every frame.
type FrameType uint8

const (
	// Connection management.
	FrameHello     FrameType = 0x01 // C→S
	FrameHelloOK   FrameType = 0x02 // S→C
	FrameHeartbeat FrameType = 0x03 // both; empty payload
	FrameClose     FrameType = 0x04 // both; orderly close with a reason
	FrameError     FrameType = 0x05 // S→C; request failed, or fatal error before close
	FrameAuth      FrameType = 0x06 // C→S; right after a Hello with FeatureAuth
	FrameBlocked   FrameType = 0x07 // S→C; the broker's memory alarm: publishing is paused
	FrameUnblocked FrameType = 0x08 // S→C; empty payload; publishing resumes

	// Topology requests, answered by OK or Error carrying the same ReqID.
	FrameDeclareExchange FrameType = 0x10
	FrameDeleteExchange  FrameType = 0x11
	FrameDeclareQueue    FrameType = 0x12
	FrameDeleteQueue     FrameType = 0x13
	FrameBind            FrameType = 0x14
	FrameUnbind          FrameType = 0x15
	FrameOK              FrameType = 0x16 // S→C
	FrameStats           FrameType = 0x17 // C→S
	FrameStatsOK         FrameType = 0x18 // S→C; JSON document

	// Publishing.
	FramePublish    FrameType = 0x20 // C→S
	FrameConfirm    FrameType = 0x21 // S→C; a range of sequence numbers
	FrameNack       FrameType = 0x22 // S→C; one publish refused
	FrameConfirmDup FrameType = 0x23 // S→C; one publish confirmed as a duplicate

	// Shared prefixes (feature FeatureSharedPrefixes, see prefix.go).
	FramePrefix     FrameType = 0x24 // both; defines the next prefix id of its direction
	FramePublishRef FrameType = 0x25 // C→S; Publish whose body is a live prefix ‖ Body

	// Consuming.
	FrameConsume      FrameType = 0x30 // C→S
	FrameConsumeOK    FrameType = 0x31 // S→C
	FrameCancel       FrameType = 0x32 // C→S, answered by OK
	FrameDeliver      FrameType = 0x33 // S→C
	FrameAck          FrameType = 0x34 // C→S
	FrameNackDelivery FrameType = 0x35 // C→S
	FrameReject       FrameType = 0x36 // C→S; to the dead-letter queue
	FrameAckRefused   FrameType = 0x37 // S→C; an ack/nack/reject named a tag that is not outstanding
	FrameFetch        FrameType = 0x38 // C→S
	FrameFetchOK      FrameType = 0x39 // S→C
	FrameFetchEmpty   FrameType = 0x3A // S→C
	FrameCancelled    FrameType = 0x3B // S→C; the server ended a consumer (queue deleted)
	FrameDeliverRef   FrameType = 0x3C // S→C; Deliver whose body is a live prefix ‖ Body
)

// Heartbeat proves liveness; it has no fields. Any frame counts as a sign
// of life, so a busy connection never needs to send one.
type Heartbeat struct{}

// Hello is the client's first frame.
type Hello struct {
	Version      uint64
	ClientName   string
	HeartbeatMs  uint64 // proposed heartbeat interval; 0 = server default
	MaxFrameSize uint64 // largest frame the client accepts; 0 = no preference
	// Features the client can use (Feature* bits), sent as an optional
	// trailing uvarint: omitted when 0, so older clients' frames are
	// unchanged; an explicit 0 is malformed (one encoding per frame).
	Features uint64
}

// Auth authenticates the connection: the client sends it right after a
// Hello that carries FeatureAuth, and waits for HelloOK (success) or an
// Error with code 600 (failure; the server closes the connection).
type Auth struct {
	// Mechanism is "PLAIN" (Response = authzid NUL user NUL password, as
	// in RFC 4616; authzid must be empty or equal the user) or "EXTERNAL"
	// (the identity comes from the verified TLS client certificate;
	// Response is empty or the identity the client expects).
	Mechanism string
	// Vhost is the virtual host the connection will act in ("/" when
	// empty).
	Vhost    string
	Response []byte
}

// HelloOK is the server's answer to Hello: the negotiated values.
type HelloOK struct {
	ServerName     string
	HeartbeatMs    uint64 // each side sends something at least this often; a peer silent for 3 intervals is dead
	MaxFrameSize   uint64
	MaxMessageSize uint64
	// Features the server will use on this connection: the client's bits
	// that the server also supports (optional trailing uvarint, as in Hello).
	Features uint64
}

// Close ends a connection in an orderly way.
type Close struct {
	Code   uint16
	Reason string
}

// Error answers a request (ReqID != 0) or reports a connection-level error
// (ReqID == 0, the server closes the connection after sending it).
type Error struct {
	ReqID   uint64
	Code    uint16
	Message string
}

// DeclareExchange declares an exchange (idempotent for the same type).
type DeclareExchange struct {
	ReqID uint64
	Name  string
	Type  uint8 // broker.ExchangeType
}

// DeleteExchange deletes an exchange and its bindings.
type DeleteExchange struct {
	ReqID uint64
	Name  string
}

// DeclareQueue declares a queue (idempotent for the same options).
type DeclareQueue struct {
	ReqID           uint64
	Name            string
	MaxLength       uint64
	MaxBytes        uint64
	AckTimeoutMs    uint64
	DeliveryLimit   uint64
	DeadLetterQueue string
	// Durable: the queue and its messages survive broker restarts (sent as
	// the optional trailing flags byte, bit 0; absent means 0).
	Durable bool
	// Discard: rejected messages are dropped rather than dead-lettered,
	// asked for explicitly (flags bit 1). Exclusive with DeadLetterQueue.
	Discard bool
}

// DeleteQueue deletes a queue; OK.Count is the number of messages discarded.
type DeleteQueue struct {
	ReqID uint64
	Name  string
}

// Bind adds (and Unbind removes) a binding of Queue to Exchange with Key.
type Bind struct {
	ReqID    uint64
	Exchange string
	Queue    string
	Key      string
}

// Unbind removes a binding; same fields as Bind, its own frame type.
type Unbind Bind

// OK answers a request; Count carries a number where a request has one.
type OK struct {
	ReqID uint64
	Count uint64
}

// Stats asks for the broker's statistics; StatsOK carries them as JSON.
//
// Without a cursor (List 0, the form older clients send) it asks for the
// first page of both lists. With one (only on a connection that
// negotiated FeatureStatsCursor) it asks for the next page of one list:
// List is StatsQueues or StatsExchanges, and the page starts strictly
// after the name After, or, when Resume is not 0, at the session-local
// resume token a previous reply gave ("next_queue_token",
// "next_exchange_token"). Encoded as an optional trailing flags byte
// (bits 0-1: the list; bit 2: a token follows instead of a name) and one
// field: a non-empty after string or a non-zero resume uvarint, so every
// request has exactly one encoding.
type Stats struct {
	ReqID  uint64
	List   uint8 // 0: first page of both lists; StatsQueues; StatsExchanges
	After  string
	Resume uint64
}

// Stats.List values.
const (
	StatsQueues    uint8 = 1
	StatsExchanges uint8 = 2
)

// StatsOK carries broker.Stats as JSON.
type StatsOK struct {
	ReqID uint64
	JSON  []byte
}

// Publish sends one message. Seq starts at 1 and increases by 1 per publish
// on the connection. Byte fields alias the decoder's buffer.
type Publish struct {
	Seq        uint64
	Exchange   []byte
	RoutingKey []byte
	MessageID  []byte
	Body       []byte
}

// Confirm resolves, as confirmed, every publish with First <= Seq <= Last.
// The server coalesces only publishes it actually received and confirmed
// (never a gap, never a publish it refused or flagged as duplicate), so a
// range is safe even on a transport that loses or reorders frames.
type Confirm struct {
	First uint64
	Last  uint64
	// Durable: every publish in the range is on disk in every queue it was
	// routed to (all of them durable). False means in memory only in at
	// least one queue, or that the connection did not negotiate
	// FeatureConfirmDurability (the server then never sets it). Encoded as
	// an optional trailing flags byte (bit 0), omitted when false.
	Durable bool
}

// Nack resolves one publish as refused.
type Nack struct {
	Seq    uint64
	Code   uint16
	Reason string
}

// ConfirmDup resolves one publish as confirmed, noting that the message id
// had already been accepted inside the dedup window (not enqueued again).
type ConfirmDup struct {
	Seq uint64
	// Durable: as Confirm.Durable, for the queues the id routes to now.
	Durable bool
}

// Consume registers a push consumer.
type Consume struct {
	ReqID        uint64
	Queue        string
	ConsumerTag  string // empty: the server picks one
	Prefetch     uint64 // 0: server default
	AckTimeoutMs uint64 // 0: the queue's
}

// ConsumeOK answers Consume with the consumer's tag.
type ConsumeOK struct {
	ReqID       uint64
	ConsumerTag string
}

// Cancel ends a consumer; its unacked deliveries stay outstanding until acked
// or until the connection closes.
type Cancel struct {
	ReqID       uint64
	ConsumerTag string
}

// Cancelled tells the client the server ended one of its consumers.
type Cancelled struct {
	ConsumerTag string
	Reason      string
}

// Deliver carries one delivery attempt. Flags bit 0: redelivered.
type Deliver struct {
	ConsumerTag   []byte
	DeliveryTag   uint64
	Flags         uint8
	DeliveryCount uint64
	Queue         []byte
	Exchange      []byte
	RoutingKey    []byte
	MessageID     []byte
	Body          []byte
	// Reason is why the delivered copy was dead-lettered (ReasonNone for
	// a message that was not). Encoded as flags bit 1 and a reason byte
	// right after the flags; sent only when FeatureRejectReasons was
	// granted. Flags never carries bit 1 itself: the codec derives it.
	Reason RejectReason
}

// FlagRedelivered marks a Deliver (or FetchOK) of a message delivered before.
const FlagRedelivered = 1

// flagDeadLetterReason (Deliver flags bit 1): a reason byte follows the
// flags. Derived from Deliver.Reason by the codec.
const flagDeadLetterReason = 2

// Ack acknowledges DeliveryTag (and, with Multiple, every earlier
// outstanding tag of the connection).
type Ack struct {
	DeliveryTag uint64
	Multiple    bool
}

// NackDelivery returns deliveries: to the head of their queue if Requeue,
// else to the dead-letter queue.
type NackDelivery struct {
	DeliveryTag uint64
	Multiple    bool
	Requeue     bool
	// Reason (optional trailing byte, only with FeatureRejectReasons) is
	// why the messages are dead-lettered; refused together with Requeue.
	Reason RejectReason
}

// Reject dead-letters one delivery.
type Reject struct {
	DeliveryTag uint64
	// Reason (optional trailing byte, only with FeatureRejectReasons) is
	// why: the broker records it on the dead-lettered copy.
	Reason RejectReason
}

// AckRefused reports that an Ack, NackDelivery or Reject named a tag that is
// not outstanding on this connection (for example, a stale attempt that was
// redelivered since). Nothing was applied.
type AckRefused struct {
	DeliveryTag uint64
	Code        uint16
	Reason      string
}

// Fetch pulls one message; it stays unacked until acked, like a delivery.
type Fetch struct {
	ReqID uint64
	Queue string
}

// FetchOK answers Fetch with a delivery (ConsumerTag empty).
type FetchOK struct {
	ReqID   uint64
	Deliver Deliver
}

// FetchEmpty answers Fetch on an empty queue.
type FetchEmpty struct {
	ReqID uint64
}
