package wire

import "fmt"

// Consuming frames: Consume, ConsumeOK, Cancel, Cancelled, Deliver, Ack,
// NackDelivery, Reject, AckRefused, Fetch, FetchOK, FetchEmpty.

// Flag bits of Ack and NackDelivery (one flag byte after the delivery tag).
const (
	ackFlagMultiple = 1 << 0
	ackFlagRequeue  = 1 << 1
)

// AppendConsume appends a Consume frame.
func AppendConsume(dst []byte, f *Consume) []byte {
	dst, start := beginFrame(dst, FrameConsume)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Queue)
	dst = appendString(dst, f.ConsumerTag)
	dst = appendUvarint(dst, f.Prefetch)
	dst = appendUvarint(dst, f.AckTimeoutMs)
	return endFrame(dst, start)
}

// DecodeConsume decodes a Consume payload.
func DecodeConsume(p []byte, f *Consume) error {
	d := decoder{buf: p, frame: FrameConsume}
	f.ReqID = d.uvarint("req_id")
	f.Queue = d.str("queue", MaxNameLen)
	f.ConsumerTag = d.str("consumer_tag", MaxNameLen)
	f.Prefetch = d.uvarint("prefetch")
	f.AckTimeoutMs = d.uvarint("ack_timeout_ms")
	return d.finish()
}

// AppendConsumeOK appends a ConsumeOK frame.
func AppendConsumeOK(dst []byte, f *ConsumeOK) []byte {
	dst, start := beginFrame(dst, FrameConsumeOK)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.ConsumerTag)
	return endFrame(dst, start)
}

// DecodeConsumeOK decodes a ConsumeOK payload.
func DecodeConsumeOK(p []byte, f *ConsumeOK) error {
	d := decoder{buf: p, frame: FrameConsumeOK}
	f.ReqID = d.uvarint("req_id")
	f.ConsumerTag = d.str("consumer_tag", MaxNameLen)
	return d.finish()
}

// AppendCancel appends a Cancel frame.
func AppendCancel(dst []byte, f *Cancel) []byte {
	dst, start := beginFrame(dst, FrameCancel)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.ConsumerTag)
	return endFrame(dst, start)
}

// DecodeCancel decodes a Cancel payload.
func DecodeCancel(p []byte, f *Cancel) error {
	d := decoder{buf: p, frame: FrameCancel}
	f.ReqID = d.uvarint("req_id")
	f.ConsumerTag = d.str("consumer_tag", MaxNameLen)
	return d.finish()
}

// AppendCancelled appends a Cancelled frame; Reason is cut to MaxReasonLen.
func AppendCancelled(dst []byte, f *Cancelled) []byte {
	dst, start := beginFrame(dst, FrameCancelled)
	dst = appendString(dst, f.ConsumerTag)
	dst = appendReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeCancelled decodes a Cancelled payload.
func DecodeCancelled(p []byte, f *Cancelled) error {
	d := decoder{buf: p, frame: FrameCancelled}
	f.ConsumerTag = d.str("consumer_tag", MaxNameLen)
	f.Reason = d.str("reason", MaxReasonLen)
	return d.finish()
}

func appendDeliverFields(dst []byte, f *Deliver) []byte {
	dst = appendDeliverHead(dst, f)
	return appendBytes(dst, f.Body)
}

// appendDeliverHead writes every Deliver field before the body.
func appendDeliverHead(dst []byte, f *Deliver) []byte {
	dst = appendBytes(dst, f.ConsumerTag)
	dst = appendUvarint(dst, f.DeliveryTag)
	flags := f.Flags &^ flagDeadLetterReason
	if f.Reason != ReasonNone {
		flags |= flagDeadLetterReason
	}
	dst = append(dst, flags)
	if f.Reason != ReasonNone {
		dst = append(dst, byte(f.Reason))
	}
	dst = appendUvarint(dst, f.DeliveryCount)
	dst = appendBytes(dst, f.Queue)
	dst = appendBytes(dst, f.Exchange)
	dst = appendBytes(dst, f.RoutingKey)
	return appendBytes(dst, f.MessageID)
}

func decodeDeliverFields(d *decoder, f *Deliver) {
	decodeDeliverHead(d, f)
	f.Body = d.bytes("body", -1)
}

func decodeDeliverHead(d *decoder, f *Deliver) {
	f.ConsumerTag = d.bytes("consumer_tag", MaxNameLen)
	f.DeliveryTag = d.uvarint("delivery_tag")
	f.Flags = d.flags("flags", FlagRedelivered|flagDeadLetterReason)
	f.Reason = ReasonNone
	if f.Flags&flagDeadLetterReason != 0 {
		f.Flags &^= flagDeadLetterReason
		f.Reason = d.reason("reason")
	}
	f.DeliveryCount = d.uvarint("delivery_count")
	f.Queue = d.bytes("queue", MaxNameLen)
	f.Exchange = d.bytes("exchange", MaxNameLen)
	f.RoutingKey = d.bytes("routing_key", MaxNameLen)
	f.MessageID = d.bytes("message_id", MaxMessageIDLen)
}

// AppendDeliver appends a Deliver frame.
func AppendDeliver(dst []byte, f *Deliver) []byte {
	dst, start := beginFrame(dst, FrameDeliver)
	dst = appendDeliverFields(dst, f)
	return endFrame(dst, start)
}

// DecodeDeliver decodes a Deliver payload without allocating: the byte
// fields alias p.
func DecodeDeliver(p []byte, f *Deliver) error {
	d := decoder{buf: p, frame: FrameDeliver}
	decodeDeliverFields(&d, f)
	return d.finish()
}

// AppendAck appends an Ack frame.
func AppendAck(dst []byte, f *Ack) []byte {
	dst, start := beginFrame(dst, FrameAck)
	dst = appendUvarint(dst, f.DeliveryTag)
	var flags byte
	if f.Multiple {
		flags |= ackFlagMultiple
	}
	dst = append(dst, flags)
	return endFrame(dst, start)
}

// DecodeAck decodes an Ack payload.
func DecodeAck(p []byte, f *Ack) error {
	d := decoder{buf: p, frame: FrameAck}
	f.DeliveryTag = d.uvarint("delivery_tag")
	flags := d.flags("flags", ackFlagMultiple)
	f.Multiple = flags&ackFlagMultiple != 0
	return d.finish()
}

// AppendNackDelivery appends a NackDelivery frame.
func AppendNackDelivery(dst []byte, f *NackDelivery) []byte {
	dst, start := beginFrame(dst, FrameNackDelivery)
	dst = appendUvarint(dst, f.DeliveryTag)
	var flags byte
	if f.Multiple {
		flags |= ackFlagMultiple
	}
	if f.Requeue {
		flags |= ackFlagRequeue
	}
	dst = append(dst, flags)
	dst = appendOptionalReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeNackDelivery decodes a NackDelivery payload.
func DecodeNackDelivery(p []byte, f *NackDelivery) error {
	d := decoder{buf: p, frame: FrameNackDelivery}
	f.DeliveryTag = d.uvarint("delivery_tag")
	flags := d.flags("flags", ackFlagMultiple|ackFlagRequeue)
	f.Multiple = flags&ackFlagMultiple != 0
	f.Requeue = flags&ackFlagRequeue != 0
	f.Reason = d.optionalClientReason("reason")
	if d.err == nil && f.Requeue && f.Reason != ReasonNone {
		d.fail("reason", fmt.Errorf("%w: a reason with requeue: only a dead-lettering nack has one", ErrBadValue))
	}
	return d.finish()
}

// AppendReject appends a Reject frame.
func AppendReject(dst []byte, f *Reject) []byte {
	dst, start := beginFrame(dst, FrameReject)
	dst = appendUvarint(dst, f.DeliveryTag)
	dst = appendOptionalReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeReject decodes a Reject payload.
func DecodeReject(p []byte, f *Reject) error {
	d := decoder{buf: p, frame: FrameReject}
	f.DeliveryTag = d.uvarint("delivery_tag")
	f.Reason = d.optionalClientReason("reason")
	return d.finish()
}

// AppendAckRefused appends an AckRefused frame; Reason is cut to MaxReasonLen.
func AppendAckRefused(dst []byte, f *AckRefused) []byte {
	dst, start := beginFrame(dst, FrameAckRefused)
	dst = appendUvarint(dst, f.DeliveryTag)
	dst = appendUvarint(dst, uint64(f.Code))
	dst = appendReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeAckRefused decodes an AckRefused payload.
func DecodeAckRefused(p []byte, f *AckRefused) error {
	d := decoder{buf: p, frame: FrameAckRefused}
	f.DeliveryTag = d.uvarint("delivery_tag")
	f.Code = d.code("code")
	f.Reason = d.str("reason", MaxReasonLen)
	return d.finish()
}

// AppendFetch appends a Fetch frame.
func AppendFetch(dst []byte, f *Fetch) []byte {
	dst, start := beginFrame(dst, FrameFetch)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Queue)
	return endFrame(dst, start)
}

// DecodeFetch decodes a Fetch payload.
func DecodeFetch(p []byte, f *Fetch) error {
	d := decoder{buf: p, frame: FrameFetch}
	f.ReqID = d.uvarint("req_id")
	f.Queue = d.str("queue", MaxNameLen)
	return d.finish()
}

// AppendFetchOK appends a FetchOK frame: ReqID, then the Deliver fields.
func AppendFetchOK(dst []byte, f *FetchOK) []byte {
	dst, start := beginFrame(dst, FrameFetchOK)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendDeliverFields(dst, &f.Deliver)
	return endFrame(dst, start)
}

// DecodeFetchOK decodes a FetchOK payload without allocating.
func DecodeFetchOK(p []byte, f *FetchOK) error {
	d := decoder{buf: p, frame: FrameFetchOK}
	f.ReqID = d.uvarint("req_id")
	decodeDeliverFields(&d, &f.Deliver)
	return d.finish()
}

// AppendFetchEmpty appends a FetchEmpty frame.
func AppendFetchEmpty(dst []byte, f *FetchEmpty) []byte {
	dst, start := beginFrame(dst, FrameFetchEmpty)
	dst = appendUvarint(dst, f.ReqID)
	return endFrame(dst, start)
}

// DecodeFetchEmpty decodes a FetchEmpty payload.
func DecodeFetchEmpty(p []byte, f *FetchEmpty) error {
	d := decoder{buf: p, frame: FrameFetchEmpty}
	f.ReqID = d.uvarint("req_id")
	return d.finish()
}

func (*Consume) FrameType() FrameType      { return FrameConsume }
func (*ConsumeOK) FrameType() FrameType    { return FrameConsumeOK }
func (*Cancel) FrameType() FrameType       { return FrameCancel }
func (*Cancelled) FrameType() FrameType    { return FrameCancelled }
func (*Deliver) FrameType() FrameType      { return FrameDeliver }
func (*Ack) FrameType() FrameType          { return FrameAck }
func (*NackDelivery) FrameType() FrameType { return FrameNackDelivery }
func (*Reject) FrameType() FrameType       { return FrameReject }
func (*AckRefused) FrameType() FrameType   { return FrameAckRefused }
func (*Fetch) FrameType() FrameType        { return FrameFetch }
func (*FetchOK) FrameType() FrameType      { return FrameFetchOK }
func (*FetchEmpty) FrameType() FrameType   { return FrameFetchEmpty }

func (f *Consume) AppendTo(dst []byte) []byte      { return AppendConsume(dst, f) }
func (f *ConsumeOK) AppendTo(dst []byte) []byte    { return AppendConsumeOK(dst, f) }
func (f *Cancel) AppendTo(dst []byte) []byte       { return AppendCancel(dst, f) }
func (f *Cancelled) AppendTo(dst []byte) []byte    { return AppendCancelled(dst, f) }
func (f *Deliver) AppendTo(dst []byte) []byte      { return AppendDeliver(dst, f) }
func (f *Ack) AppendTo(dst []byte) []byte          { return AppendAck(dst, f) }
func (f *NackDelivery) AppendTo(dst []byte) []byte { return AppendNackDelivery(dst, f) }
func (f *Reject) AppendTo(dst []byte) []byte       { return AppendReject(dst, f) }
func (f *AckRefused) AppendTo(dst []byte) []byte   { return AppendAckRefused(dst, f) }
func (f *Fetch) AppendTo(dst []byte) []byte        { return AppendFetch(dst, f) }
func (f *FetchOK) AppendTo(dst []byte) []byte      { return AppendFetchOK(dst, f) }
func (f *FetchEmpty) AppendTo(dst []byte) []byte   { return AppendFetchEmpty(dst, f) }
