package wire

// Protocol limits. They are part of the protocol (docs/protocol.md §Limits):
// a peer that exceeds them gets a decode error, not a truncated value.
const (
	// FrameHeaderSize is the length field (4 bytes) plus the type byte.
	FrameHeaderSize = 5

	// DefaultMaxFrameSize bounds a whole frame (length field included)
	// unless the peers negotiate another value in Hello/HelloOK. It is the
	// broker's default message limit (1 MiB) plus 64 KiB for the other
	// fields, so a message of the default maximum size always fits.
	DefaultMaxFrameSize = 1<<20 + 64<<10

	// MinMaxFrameSize is the smallest frame limit a peer may announce; every
	// control frame with maximal names and reasons fits in it.
	MinMaxFrameSize = 4096

	// MaxNameLen bounds exchange, queue and consumer-tag names, routing keys
	// and binding keys, client and server names (bytes, UTF-8).
	MaxNameLen = 255

	// MaxMessageIDLen bounds a message id (bytes).
	MaxMessageIDLen = 255

	// MaxReasonLen bounds human-readable reasons and error messages (bytes).
	// Encoders cut longer reasons at a UTF-8 boundary instead of failing, so
	// an error path can never itself fail.
	MaxReasonLen = 1024

	// DefaultMaxLineSize bounds one text-protocol line (terminator excluded).
	DefaultMaxLineSize = 64 << 10
)

// Exchange types as they travel in DeclareExchange.Type. The values are
// those of broker.ExchangeType.
const (
	ExchangeDirect uint8 = 1
	ExchangeFanout uint8 = 2
	ExchangeTopic  uint8 = 3
)
