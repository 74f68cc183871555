package wire

import "fmt"

// RejectReason says why a message was dead-lettered: one byte from a fixed,
// documented table (docs/protocol.md, "Reject reasons"). A client sends it
// in Reject (and NackDelivery without requeue), the broker keeps it on the
// dead-lettered copy, persists it with a durable queue's message, and shows
// it in Deliver/FetchOK of that copy, the management API and
// `ciphermq dlq list`. The numbers are on the wire and on disk: never
// renumber them; new reasons take new numbers.
//
// Zero is "no reason": it is never encoded (the field is omitted) and an
// explicit 0 is refused, so every frame has one encoding.
type RejectReason uint8

const (
	ReasonNone RejectReason = iota // not encoded: no reason given
	// Reasons a receiver gives when it cannot open an envelope (the names
	// are those of clients/receiver.ReasonOf).
	ReasonNotRecipient      // sealed for other recipients
	ReasonWrongKey          // the receiver's key does not open it
	ReasonUntrustedSender   // signed by a sender outside the trust set
	ReasonTampered          // authentication of the body failed
	ReasonTamperedHeader    // the signed session header does not verify
	ReasonMessageIDMismatch // the envelope is bound to another message id
	ReasonMalformed         // cannot be parsed
	ReasonUnknownFormat     // not an envelope format the receiver knows
	ReasonUnknownVersion    // a format version the receiver does not know
	ReasonUnsupportedSuite  // a cipher suite the receiver does not support
	ReasonFormatNotAccepted // a format the receiver was told not to accept
	ReasonTooLarge          // larger than the receiver accepts
	ReasonTruncated         // ends early
	ReasonInvalidMessageID  // the message id is not acceptable
	ReasonInvalidRecord     // opened, but the receiver's store refuses the record
	ReasonOther             // the client gave a reason with no code of its own
	// ReasonDeliveryLimit is set by the broker: the message was delivered
	// its queue's delivery limit times and returned again.
	ReasonDeliveryLimit

	maxRejectReason = ReasonDeliveryLimit
)

// rejectReasonTable is each reason's stable name and what it means, as
// docs/protocol.md §5b prints them (TestCatalogueMatchesProtocolDoc compares
// the two row for row).
var rejectReasonTable = [...]struct{ name, meaning string }{
	ReasonNone:              {"unknown", "no reason given (never encoded: the field is omitted)"},
	ReasonNotRecipient:      {"not-recipient", "the envelope is sealed for other recipient keys"},
	ReasonWrongKey:          {"wrong-key", "the receiver's key cannot unwrap the session key"},
	ReasonUntrustedSender:   {"untrusted-sender", "signed by a key outside the receiver's trust set"},
	ReasonTampered:          {"tampered", "payload authentication failed"},
	ReasonTamperedHeader:    {"tampered-header", "the signed session header does not verify"},
	ReasonMessageIDMismatch: {"message-id-mismatch", "the envelope is bound to another message id"},
	ReasonMalformed:         {"malformed", "cannot be parsed"},
	ReasonUnknownFormat:     {"unknown-format", "neither envelope format"},
	ReasonUnknownVersion:    {"unknown-version", "an envelope version the receiver does not know"},
	ReasonUnsupportedSuite:  {"unsupported-suite", "a cipher suite the receiver does not support"},
	ReasonFormatNotAccepted: {"format-not-accepted", "a format the receiver was told not to accept"},
	ReasonTooLarge:          {"too-large", "larger than the receiver accepts"},
	ReasonTruncated:         {"truncated", "ends early"},
	ReasonInvalidMessageID:  {"invalid-message-id", "the message id is not acceptable"},
	ReasonInvalidRecord:     {"invalid-record", "opened, but the receiver's store refuses the record"},
	ReasonOther:             {"other", "a client reason with no code of its own"},
	ReasonDeliveryLimit:     {"delivery-limit", "set by the broker only: delivered its queue's delivery limit times"},
}

// String is the reason's stable name ("not-recipient"); "unknown" for no
// reason (none was given: a text-protocol or older client), "reason(N)" for a number this version does not know.
func (r RejectReason) String() string {
	if r <= maxRejectReason {
		return rejectReasonTable[r].name
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Meaning says in a few words what the reason means (docs/protocol.md §5b);
// empty for a number this version does not know.
func (r RejectReason) Meaning() string {
	if r <= maxRejectReason {
		return rejectReasonTable[r].meaning
	}
	return ""
}

// Known reports whether r is in this version's table (ReasonNone included).
func (r RejectReason) Known() bool { return r <= maxRejectReason }

// ParseRejectReason returns the reason named name (a String result, "unknown"
// included), or false.
func ParseRejectReason(name string) (RejectReason, bool) {
	for i, e := range rejectReasonTable {
		if e.name == name {
			return RejectReason(i), true
		}
	}
	return ReasonNone, false
}

// RejectReasons returns every reason of the table but ReasonNone, in number
// order (for docs and tests).
func RejectReasons() []RejectReason {
	out := make([]RejectReason, 0, maxRejectReason)
	for r := RejectReason(1); r <= maxRejectReason; r++ {
		out = append(out, r)
	}
	return out
}

// FeatureRejectReasons is bit 4 of Hello.Features and HelloOK.Features: the
// client may give a reason in Reject and NackDelivery, and the server marks
// a Deliver/DeliverRef/FetchOK of a dead-lettered copy with the reason it
// was dead-lettered for. Without it neither side sends the fields, and the
// frames stay byte-identical to those of peers that predate the bit.
const FeatureRejectReasons uint64 = 1 << 4

// reason reads a reason byte that must be present: non-zero and known.
func (d *decoder) reason(field string) RejectReason {
	r := RejectReason(d.byte1(field))
	if d.err != nil {
		return ReasonNone
	}
	if r == ReasonNone {
		d.fail(field, fmt.Errorf("%w: reason 0 is sent by omitting the field", ErrBadValue))
		return ReasonNone
	}
	if !r.Known() {
		d.fail(field, fmt.Errorf("%w: unknown reject reason %d", ErrBadValue, uint8(r)))
		return ReasonNone
	}
	return r
}

// optionalReason reads a trailing reason byte that may be absent (absent
// means ReasonNone).
func (d *decoder) optionalReason(field string) RejectReason {
	if d.err != nil || d.off == len(d.buf) {
		return ReasonNone
	}
	return d.reason(field)
}

// optionalClientReason is optionalReason for the client's frames (Reject,
// NackDelivery): ReasonDeliveryLimit is the broker's own and refused.
func (d *decoder) optionalClientReason(field string) RejectReason {
	r := d.optionalReason(field)
	if d.err == nil && r == ReasonDeliveryLimit {
		d.fail(field, fmt.Errorf("%w: %v is set by the broker only", ErrBadValue, r))
		return ReasonNone
	}
	return r
}

// appendOptionalReason writes r as a trailing field, or nothing for
// ReasonNone.
func appendOptionalReason(dst []byte, r RejectReason) []byte {
	if r == ReasonNone {
		return dst
	}
	return append(dst, byte(r))
}
