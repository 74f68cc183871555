package wire

import "strconv"

// The catalogue: every frame type and every reason code of the native
// protocol, with the names, directions, feature bits and meanings that
// docs/protocol.md (§4 and §10) prints. It is the one place they are written
// down: the frame names (FrameType.String), the session's "sent by servers
// only" check, broker.Code, the client library's Code constants and the
// simulator all take them from here, and TestCatalogueMatchesProtocolDoc
// fails when docs/protocol.md's tables and this file disagree.

// Direction says which side sends a frame type.
type Direction uint8

const (
	ClientToServer Direction = 1 // C→S
	ServerToClient Direction = 2 // S→C
	BothWays       Direction = 3 // both
)

// String is the direction as docs/protocol.md writes it.
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "C→S"
	case ServerToClient:
		return "S→C"
	case BothWays:
		return "both"
	}
	return "Direction(?)"
}

// ClientSends reports whether a client may send frames of this direction.
func (d Direction) ClientSends() bool { return d == ClientToServer || d == BothWays }

// ServerSends reports whether a server may send frames of this direction.
func (d Direction) ServerSends() bool { return d == ServerToClient || d == BothWays }

// FrameInfo is one row of the frame catalogue.
type FrameInfo struct {
	Type FrameType
	Name string
	Dir  Direction
	// Feature is the Hello feature bit a connection must negotiate before
	// the frame may travel (0: none).
	Feature uint64
	// AnsweredBy is what answers the frame, as docs/protocol.md §4 says it.
	AnsweredBy string
}

// frameCatalogue is in numeric order.
var frameCatalogue = []FrameInfo{
	{FrameHello, "Hello", ClientToServer, 0, "HelloOK or Error(0)"},
	{FrameHelloOK, "HelloOK", ServerToClient, 0, ""},
	{FrameHeartbeat, "Heartbeat", BothWays, 0, ""},
	{FrameClose, "Close", BothWays, 0, "Close (from the server)"},
	{FrameError, "Error", ServerToClient, 0, ""},
	{FrameAuth, "Auth", ClientToServer, FeatureAuth, "HelloOK or Error(600)"},
	{FrameBlocked, "Blocked", ServerToClient, 0, "(§9a)"},
	{FrameUnblocked, "Unblocked", ServerToClient, 0, "(§9a)"},
	{FrameDeclareExchange, "DeclareExchange", ClientToServer, 0, "OK / Error"},
	{FrameDeleteExchange, "DeleteExchange", ClientToServer, 0, "OK / Error"},
	{FrameDeclareQueue, "DeclareQueue", ClientToServer, 0, "OK / Error"},
	{FrameDeleteQueue, "DeleteQueue", ClientToServer, 0, "OK (Count = messages discarded) / Error"},
	{FrameBind, "Bind", ClientToServer, 0, "OK / Error"},
	{FrameUnbind, "Unbind", ClientToServer, 0, "OK / Error"},
	{FrameOK, "OK", ServerToClient, 0, ""},
	{FrameStats, "Stats", ClientToServer, 0, "StatsOK / Error"},
	{FrameStatsOK, "StatsOK", ServerToClient, 0, ""},
	{FramePublish, "Publish", ClientToServer, 0, "Confirm, ConfirmDup or Nack (by Seq)"},
	{FrameConfirm, "Confirm", ServerToClient, 0, ""},
	{FrameNack, "Nack", ServerToClient, 0, ""},
	{FrameConfirmDup, "ConfirmDup", ServerToClient, 0, ""},
	{FramePrefix, "Prefix", BothWays, FeatureSharedPrefixes, "nothing (defines a shared prefix, §5a)"},
	{FramePublishRef, "PublishRef", ClientToServer, FeatureSharedPrefixes, "as Publish"},
	{FrameConsume, "Consume", ClientToServer, 0, "ConsumeOK / Error"},
	{FrameConsumeOK, "ConsumeOK", ServerToClient, 0, ""},
	{FrameCancel, "Cancel", ClientToServer, 0, "OK / Error"},
	{FrameDeliver, "Deliver", ServerToClient, 0, "Ack / NackDelivery / Reject (by tag)"},
	{FrameAck, "Ack", ClientToServer, 0, "nothing, or AckRefused"},
	{FrameNackDelivery, "NackDelivery", ClientToServer, 0, "nothing, or AckRefused"},
	{FrameReject, "Reject", ClientToServer, 0, "nothing, or AckRefused"},
	{FrameAckRefused, "AckRefused", ServerToClient, 0, ""},
	{FrameFetch, "Fetch", ClientToServer, 0, "FetchOK / FetchEmpty / Error"},
	{FrameFetchOK, "FetchOK", ServerToClient, 0, "Ack / NackDelivery / Reject (by tag)"},
	{FrameFetchEmpty, "FetchEmpty", ServerToClient, 0, ""},
	{FrameCancelled, "Cancelled", ServerToClient, 0, ""},
	{FrameDeliverRef, "DeliverRef", ServerToClient, FeatureSharedPrefixes, "as Deliver"},
}

// frameIndex maps a type byte to its catalogue row + 1 (0: not defined).
var frameIndex = func() (idx [256]uint8) {
	for i, f := range frameCatalogue {
		idx[f.Type] = uint8(i + 1)
	}
	return idx
}()

// Frames returns the frame catalogue in numeric order (a copy).
func Frames() []FrameInfo { return append([]FrameInfo(nil), frameCatalogue...) }

// LookupFrame returns the catalogue row of t, and false if this protocol
// version does not define t.
func LookupFrame(t FrameType) (FrameInfo, bool) {
	i := frameIndex[t]
	if i == 0 {
		return FrameInfo{}, false
	}
	return frameCatalogue[i-1], true
}

// Reason codes: the stable codes of Error, Close, Nack and AckRefused frames
// and of the text protocol's "Error:" lines. broker.Code and the client
// library's Code constants are these values; they are part of the protocol
// and never renumbered.
const (
	CodeOK uint16 = 0

	// Client errors about the request itself.
	CodeMalformed       uint16 = 100
	CodeInvalidArgument uint16 = 101
	CodeTooLarge        uint16 = 102
	CodeUnknownCommand  uint16 = 103
	CodeProtocol        uint16 = 104

	// Names and topology.
	CodeExchangeNotFound uint16 = 200
	CodeQueueNotFound    uint16 = 201
	CodeMismatch         uint16 = 202
	CodeConsumerNotFound uint16 = 203
	CodeReserved         uint16 = 204
	CodeInUse            uint16 = 205

	// Publish refusals.
	CodeNoRoute   uint16 = 300
	CodeQueueFull uint16 = 301

	// Acknowledgements.
	CodeUnknownDeliveryTag uint16 = 400

	// Resources and server state.
	CodeResourceLimit uint16 = 500
	CodeTimeout       uint16 = 501
	CodeShuttingDown  uint16 = 502
	CodeUnavailable   uint16 = 503
	CodeInternal      uint16 = 599

	// Identity and permissions.
	CodeAuthFailed    uint16 = 600
	CodeAccessRefused uint16 = 601
)

// ReasonCode is one row of the reason-code catalogue.
type ReasonCode struct {
	Code    uint16
	Name    string
	Meaning string
	// Fatal says whether an Error with this code ends the connection, as
	// docs/protocol.md §10 says it (some codes are fatal in one use only).
	Fatal string
	// Resend: a publish nacked with this code is "not now" rather than
	// "no" (the broker is going away and will be back behind the same
	// address), so a publisher keeps the message and sends it again
	// (RetryCodes; the client library's engine configuration).
	Resend bool
}

// codeCatalogue is in numeric order.
var codeCatalogue = []ReasonCode{
	{CodeOK, "OK", "no error (Close code of an orderly close)", "—", false},
	{CodeMalformed, "Malformed", "a frame or line could not be parsed (bad varint, bad length, trailing bytes, empty frame)", "yes", false},
	{CodeInvalidArgument, "InvalidArgument", "a field is out of range or empty (bad name, unknown exchange type, empty message id, a message id with a space, a control character or invalid UTF-8)", "no", false},
	{CodeTooLarge, "TooLarge", "frame above the frame limit (fatal) / message above max_message_size (Nack) / text line too long (fatal)", "frame: yes; message: no", false},
	{CodeUnknownCommand, "UnknownCommand", "unknown frame type or text command", "native: yes; text: no", false},
	{CodeProtocol, "Protocol", "valid frame at the wrong time (before Hello, second Hello, a server-only frame, version mismatch, a shared-prefix frame without the feature, a Stats cursor without features bit 3, a prefix id out of sequence or not live)", "yes", false},
	{CodeExchangeNotFound, "ExchangeNotFound", "the named exchange does not exist", "no", false},
	{CodeQueueNotFound, "QueueNotFound", "the named queue does not exist", "no", false},
	{CodeMismatch, "Mismatch", "redeclared with another type or other options", "no", false},
	{CodeConsumerNotFound, "ConsumerNotFound", "Cancel named a consumer tag this connection does not have", "no", false},
	{CodeReserved, "Reserved", "the name is reserved (e.g. deleting the default exchange)", "no", false},
	{CodeInUse, "InUse", "still referenced or taken (a queue that is another queue's dead-letter queue; a consumer tag already used on the connection)", "no", false},
	{CodeNoRoute, "NoRoute", "the exchange routed the publish to no queue (Nack)", "no", false},
	{CodeQueueFull, "QueueFull", "max_length or max_bytes of a target queue reached (Nack)", "no", false},
	{CodeUnknownDeliveryTag, "UnknownDeliveryTag", "ack/nack/reject of a tag that is not outstanding (AckRefused)", "no", false},
	{CodeResourceLimit, "ResourceLimit", "too many connections, queues, exchanges, bindings or consumers (on the broker, or for this user: the message says which)", "connection limit: yes; else no", false},
	{CodeTimeout, "Timeout", "handshake or heartbeat deadline missed", "yes", false},
	{CodeShuttingDown, "ShuttingDown", "the server is stopping (Close)", "yes", true},
	{CodeUnavailable, "Unavailable", "the broker cannot serve now (e.g. durable storage failing; a text-protocol publish during the memory alarm, §9a; a publish of a user at its memory share, §9a)", "no", false},
	{CodeInternal, "Internal", "a bug; please report it", "depends", false},
	{CodeAuthFailed, "AuthFailed", "authentication required or failed; the same answer for an unknown user and a wrong password (§1a)", "yes", false},
	{CodeAccessRefused, "AccessRefused", "the user may not do this operation on this resource (the message names both), or may not use the vhost", "vhost: yes; else no", false},
}

// Codes returns the reason-code catalogue in numeric order (a copy).
func Codes() []ReasonCode { return append([]ReasonCode(nil), codeCatalogue...) }

// RetryCodes lists the codes whose Resend is set, in numeric order.
func RetryCodes() []uint16 {
	var cs []uint16
	for _, c := range codeCatalogue {
		if c.Resend {
			cs = append(cs, c.Code)
		}
	}
	return cs
}

// LookupCode returns the catalogue row of code, and false if the protocol
// defines no such code.
func LookupCode(code uint16) (ReasonCode, bool) {
	for _, c := range codeCatalogue {
		if c.Code == code {
			return c, true
		}
	}
	return ReasonCode{}, false
}

// CodeName names a reason code as docs/protocol.md does ("QueueFull"), or
// "Code(n)" for a code the protocol does not define.
func CodeName(code uint16) string {
	if c, ok := LookupCode(code); ok {
		return c.Name
	}
	return "Code(" + strconv.Itoa(int(code)) + ")"
}
