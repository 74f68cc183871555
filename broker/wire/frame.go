package wire

import "fmt"

// Frame is implemented by a pointer to every frame struct. It lets generic
// code (the simulator, tests, logging) handle frames without a type switch;
// hot paths call the typed AppendXxx/DecodeXxx functions directly.
type Frame interface {
	// FrameType is the type byte this struct travels under.
	FrameType() FrameType
	// AppendTo appends the whole frame (length, type, payload) to dst.
	AppendTo(dst []byte) []byte
}

// String names the frame type as docs/protocol.md does.
func (t FrameType) String() string {
	if f, ok := LookupFrame(t); ok {
		return f.Name
	}
	return fmt.Sprintf("FrameType(0x%02x)", uint8(t))
}

// Known reports whether this protocol version defines t.
func (t FrameType) Known() bool {
	return frameIndex[t] != 0
}

// FrameTypes lists every defined frame type in numeric order (the
// catalogue's order, Frames).
func FrameTypes() []FrameType {
	ts := make([]FrameType, len(frameCatalogue))
	for i, f := range frameCatalogue {
		ts[i] = f.Type
	}
	return ts
}

// NewFrame returns a zero struct of the given type, or nil if t is unknown.
func NewFrame(t FrameType) Frame {
	switch t {
	case FrameHello:
		return new(Hello)
	case FrameHelloOK:
		return new(HelloOK)
	case FrameHeartbeat:
		return new(Heartbeat)
	case FrameClose:
		return new(Close)
	case FrameError:
		return new(Error)
	case FrameAuth:
		return new(Auth)
	case FrameBlocked:
		return new(Blocked)
	case FrameUnblocked:
		return new(Unblocked)
	case FrameDeclareExchange:
		return new(DeclareExchange)
	case FrameDeleteExchange:
		return new(DeleteExchange)
	case FrameDeclareQueue:
		return new(DeclareQueue)
	case FrameDeleteQueue:
		return new(DeleteQueue)
	case FrameBind:
		return new(Bind)
	case FrameUnbind:
		return new(Unbind)
	case FrameOK:
		return new(OK)
	case FrameStats:
		return new(Stats)
	case FrameStatsOK:
		return new(StatsOK)
	case FramePublish:
		return new(Publish)
	case FrameConfirm:
		return new(Confirm)
	case FrameNack:
		return new(Nack)
	case FrameConfirmDup:
		return new(ConfirmDup)
	case FramePrefix:
		return new(Prefix)
	case FramePublishRef:
		return new(PublishRef)
	case FrameDeliverRef:
		return new(DeliverRef)
	case FrameConsume:
		return new(Consume)
	case FrameConsumeOK:
		return new(ConsumeOK)
	case FrameCancel:
		return new(Cancel)
	case FrameDeliver:
		return new(Deliver)
	case FrameAck:
		return new(Ack)
	case FrameNackDelivery:
		return new(NackDelivery)
	case FrameReject:
		return new(Reject)
	case FrameAckRefused:
		return new(AckRefused)
	case FrameFetch:
		return new(Fetch)
	case FrameFetchOK:
		return new(FetchOK)
	case FrameFetchEmpty:
		return new(FetchEmpty)
	case FrameCancelled:
		return new(Cancelled)
	}
	return nil
}

// DecodeFrame decodes a payload of type t into a newly allocated struct.
// Byte fields alias payload. For hot paths prefer the typed DecodeXxx into a
// reused struct, which allocates nothing.
func DecodeFrame(t FrameType, payload []byte) (Frame, error) {
	f := NewFrame(t)
	if f == nil {
		return nil, &UnknownFrameTypeError{Type: t}
	}
	if err := DecodeInto(t, payload, f); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeInto decodes a payload of type t into f, which must be a pointer to
// the struct of that type (as NewFrame returns).
func DecodeInto(t FrameType, payload []byte, f Frame) error {
	if f.FrameType() != t {
		return fmt.Errorf("wire: DecodeInto: payload of type %s into a %s struct: pass the struct NewFrame(t) returns", t, f.FrameType())
	}
	switch f := f.(type) {
	case *Hello:
		return DecodeHello(payload, f)
	case *HelloOK:
		return DecodeHelloOK(payload, f)
	case *Heartbeat:
		return DecodeHeartbeat(payload, f)
	case *Close:
		return DecodeClose(payload, f)
	case *Error:
		return DecodeErrorFrame(payload, f)
	case *Auth:
		return DecodeAuth(payload, f)
	case *Blocked:
		return DecodeBlocked(payload, f)
	case *Unblocked:
		return DecodeUnblocked(payload, f)
	case *DeclareExchange:
		return DecodeDeclareExchange(payload, f)
	case *DeleteExchange:
		return DecodeDeleteExchange(payload, f)
	case *DeclareQueue:
		return DecodeDeclareQueue(payload, f)
	case *DeleteQueue:
		return DecodeDeleteQueue(payload, f)
	case *Bind:
		return DecodeBind(payload, f)
	case *Unbind:
		return DecodeUnbind(payload, f)
	case *OK:
		return DecodeOK(payload, f)
	case *Stats:
		return DecodeStats(payload, f)
	case *StatsOK:
		return DecodeStatsOK(payload, f)
	case *Publish:
		return DecodePublish(payload, f)
	case *Confirm:
		return DecodeConfirm(payload, f)
	case *Nack:
		return DecodeNack(payload, f)
	case *ConfirmDup:
		return DecodeConfirmDup(payload, f)
	case *Prefix:
		return DecodePrefix(payload, f)
	case *PublishRef:
		return DecodePublishRef(payload, f)
	case *DeliverRef:
		return DecodeDeliverRef(payload, f)
	case *Consume:
		return DecodeConsume(payload, f)
	case *ConsumeOK:
		return DecodeConsumeOK(payload, f)
	case *Cancel:
		return DecodeCancel(payload, f)
	case *Deliver:
		return DecodeDeliver(payload, f)
	case *Ack:
		return DecodeAck(payload, f)
	case *NackDelivery:
		return DecodeNackDelivery(payload, f)
	case *Reject:
		return DecodeReject(payload, f)
	case *AckRefused:
		return DecodeAckRefused(payload, f)
	case *Fetch:
		return DecodeFetch(payload, f)
	case *FetchOK:
		return DecodeFetchOK(payload, f)
	case *FetchEmpty:
		return DecodeFetchEmpty(payload, f)
	case *Cancelled:
		return DecodeCancelled(payload, f)
	}
	return &UnknownFrameTypeError{Type: t}
}
