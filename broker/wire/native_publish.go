package wire

import "fmt"

// Publishing frames: Publish, Confirm, Nack, ConfirmDup.

// AppendPublish appends a Publish frame.
func AppendPublish(dst []byte, f *Publish) []byte {
	dst, start := beginFrame(dst, FramePublish)
	dst = appendPublishHead(dst, f)
	dst = appendBytes(dst, f.Body)
	return endFrame(dst, start)
}

// appendPublishHead writes every Publish field before the body.
func appendPublishHead(dst []byte, f *Publish) []byte {
	dst = appendUvarint(dst, f.Seq)
	dst = appendBytes(dst, f.Exchange)
	dst = appendBytes(dst, f.RoutingKey)
	return appendBytes(dst, f.MessageID)
}

func decodePublishHead(d *decoder, f *Publish) {
	f.Seq = d.uvarint("seq")
	f.Exchange = d.bytes("exchange", MaxNameLen)
	f.RoutingKey = d.bytes("routing_key", MaxNameLen)
	f.MessageID = d.bytes("message_id", MaxMessageIDLen)
}

// DecodePublish decodes a Publish payload without allocating: the byte
// fields alias p.
func DecodePublish(p []byte, f *Publish) error {
	d := decoder{buf: p, frame: FramePublish}
	decodePublishHead(&d, f)
	f.Body = d.bytes("body", -1)
	return d.finish()
}

// AppendConfirm appends a Confirm frame.
func AppendConfirm(dst []byte, f *Confirm) []byte {
	dst, start := beginFrame(dst, FrameConfirm)
	dst = appendUvarint(dst, f.First)
	dst = appendUvarint(dst, f.Last)
	dst = appendConfirmFlags(dst, f.Durable)
	return endFrame(dst, start)
}

// confirmDurable is bit 0 of the optional flags field of Confirm and
// ConfirmDup: every target queue of the publish is durable and the message
// is on disk. The field is sent only on connections that negotiated
// FeatureConfirmDurability (a peer that predates it never sees it), and
// there only when a bit is set: absent means "in memory only".
const confirmDurable = 1

// appendConfirmFlags writes the optional trailing flags: nothing for 0.
func appendConfirmFlags(dst []byte, durable bool) []byte {
	if durable {
		dst = append(dst, confirmDurable)
	}
	return dst
}

// confirmFlags reads the optional trailing flags of Confirm and ConfirmDup.
func (d *decoder) confirmFlags() bool {
	return d.optionalFlags("flags", confirmDurable)&confirmDurable != 0
}

// DecodeConfirm decodes a Confirm payload; First must not exceed Last.
func DecodeConfirm(p []byte, f *Confirm) error {
	d := decoder{buf: p, frame: FrameConfirm}
	f.First = d.uvarint("first")
	f.Last = d.uvarint("last")
	if d.err == nil && f.First > f.Last {
		d.fail("last", fmt.Errorf("%w: range %d..%d is empty", ErrBadValue, f.First, f.Last))
	}
	f.Durable = d.confirmFlags()
	return d.finish()
}

// AppendNack appends a Nack frame; Reason is cut to MaxReasonLen.
func AppendNack(dst []byte, f *Nack) []byte {
	dst, start := beginFrame(dst, FrameNack)
	dst = appendUvarint(dst, f.Seq)
	dst = appendUvarint(dst, uint64(f.Code))
	dst = appendReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeNack decodes a Nack payload.
func DecodeNack(p []byte, f *Nack) error {
	d := decoder{buf: p, frame: FrameNack}
	f.Seq = d.uvarint("seq")
	f.Code = d.code("code")
	f.Reason = d.str("reason", MaxReasonLen)
	return d.finish()
}

// AppendConfirmDup appends a ConfirmDup frame.
func AppendConfirmDup(dst []byte, f *ConfirmDup) []byte {
	dst, start := beginFrame(dst, FrameConfirmDup)
	dst = appendUvarint(dst, f.Seq)
	dst = appendConfirmFlags(dst, f.Durable)
	return endFrame(dst, start)
}

// DecodeConfirmDup decodes a ConfirmDup payload.
func DecodeConfirmDup(p []byte, f *ConfirmDup) error {
	d := decoder{buf: p, frame: FrameConfirmDup}
	f.Seq = d.uvarint("seq")
	f.Durable = d.confirmFlags()
	return d.finish()
}

func (*Publish) FrameType() FrameType    { return FramePublish }
func (*Confirm) FrameType() FrameType    { return FrameConfirm }
func (*Nack) FrameType() FrameType       { return FrameNack }
func (*ConfirmDup) FrameType() FrameType { return FrameConfirmDup }

func (f *Publish) AppendTo(dst []byte) []byte    { return AppendPublish(dst, f) }
func (f *Confirm) AppendTo(dst []byte) []byte    { return AppendConfirm(dst, f) }
func (f *Nack) AppendTo(dst []byte) []byte       { return AppendNack(dst, f) }
func (f *ConfirmDup) AppendTo(dst []byte) []byte { return AppendConfirmDup(dst, f) }
