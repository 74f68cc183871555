package wire

// Memory alarm frames (docs/protocol.md, "Blocked and Unblocked"): the
// server tells a connection that it stopped reading publishes because the
// broker is above its memory high watermark, and that it resumed. Both
// travel S→C only, as AMQP's connection.blocked and connection.unblocked.

// Blocked tells the client that the broker's memory alarm is on: the server
// stops reading from connections that publish until it clears. Consuming
// and acking connections keep being read.
type Blocked struct {
	Reason string
}

// Unblocked tells the client that the memory alarm cleared. It has no
// fields.
type Unblocked struct{}

// AppendBlocked appends a Blocked frame; Reason is cut to MaxReasonLen.
func AppendBlocked(dst []byte, f *Blocked) []byte {
	dst, start := beginFrame(dst, FrameBlocked)
	dst = appendReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeBlocked decodes a Blocked payload.
func DecodeBlocked(p []byte, f *Blocked) error {
	d := decoder{buf: p, frame: FrameBlocked}
	f.Reason = d.str("reason", MaxReasonLen)
	return d.finish()
}

// AppendUnblocked appends an Unblocked frame (5 bytes).
func AppendUnblocked(dst []byte) []byte {
	dst, start := beginFrame(dst, FrameUnblocked)
	return endFrame(dst, start)
}

// DecodeUnblocked checks that an Unblocked payload is empty.
func DecodeUnblocked(p []byte, _ *Unblocked) error {
	d := decoder{buf: p, frame: FrameUnblocked}
	return d.finish()
}

func (*Blocked) FrameType() FrameType         { return FrameBlocked }
func (*Unblocked) FrameType() FrameType       { return FrameUnblocked }
func (f *Blocked) AppendTo(dst []byte) []byte { return AppendBlocked(dst, f) }
func (*Unblocked) AppendTo(dst []byte) []byte { return AppendUnblocked(dst) }
