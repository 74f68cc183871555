package wire

import "fmt"

// Topology frames: DeclareExchange, DeleteExchange, DeclareQueue,
// DeleteQueue, Bind, Unbind, OK, Stats, StatsOK.

// AppendDeclareExchange appends a DeclareExchange frame.
func AppendDeclareExchange(dst []byte, f *DeclareExchange) []byte {
	dst, start := beginFrame(dst, FrameDeclareExchange)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Name)
	dst = append(dst, f.Type)
	return endFrame(dst, start)
}

// DecodeDeclareExchange decodes a DeclareExchange payload. The type byte is
// not checked here: an unknown type is a request error (CodeInvalidArgument)
// the broker answers, not a malformed frame.
func DecodeDeclareExchange(p []byte, f *DeclareExchange) error {
	d := decoder{buf: p, frame: FrameDeclareExchange}
	f.ReqID = d.uvarint("req_id")
	f.Name = d.str("name", MaxNameLen)
	f.Type = d.byte1("type")
	return d.finish()
}

// AppendDeleteExchange appends a DeleteExchange frame.
func AppendDeleteExchange(dst []byte, f *DeleteExchange) []byte {
	dst, start := beginFrame(dst, FrameDeleteExchange)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Name)
	return endFrame(dst, start)
}

// DecodeDeleteExchange decodes a DeleteExchange payload.
func DecodeDeleteExchange(p []byte, f *DeleteExchange) error {
	d := decoder{buf: p, frame: FrameDeleteExchange}
	f.ReqID = d.uvarint("req_id")
	f.Name = d.str("name", MaxNameLen)
	return d.finish()
}

// AppendDeclareQueue appends a DeclareQueue frame.
func AppendDeclareQueue(dst []byte, f *DeclareQueue) []byte {
	dst, start := beginFrame(dst, FrameDeclareQueue)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Name)
	dst = appendUvarint(dst, f.MaxLength)
	dst = appendUvarint(dst, f.MaxBytes)
	dst = appendUvarint(dst, f.AckTimeoutMs)
	dst = appendUvarint(dst, f.DeliveryLimit)
	dst = appendString(dst, f.DeadLetterQueue)
	var flags byte
	if f.Durable {
		flags |= declareQueueDurable
	}
	if f.Discard {
		flags |= declareQueueDiscard
	}
	if flags != 0 {
		// Optional trailing flags: omitted when zero, so frames of clients
		// that predate durable queues stay byte-identical.
		dst = append(dst, flags)
	}
	return endFrame(dst, start)
}

// declareQueueDurable is bit 0 of DeclareQueue's optional flags field.
const declareQueueDurable = 1

// declareQueueDiscard is bit 1: drop rejected messages (no dead-letter queue).
const declareQueueDiscard = 2

// DecodeDeclareQueue decodes a DeclareQueue payload.
func DecodeDeclareQueue(p []byte, f *DeclareQueue) error {
	d := decoder{buf: p, frame: FrameDeclareQueue}
	f.ReqID = d.uvarint("req_id")
	f.Name = d.str("name", MaxNameLen)
	f.MaxLength = d.uvarint("max_length")
	f.MaxBytes = d.uvarint("max_bytes")
	f.AckTimeoutMs = d.uvarint("ack_timeout_ms")
	f.DeliveryLimit = d.uvarint("delivery_limit")
	f.DeadLetterQueue = d.str("dead_letter_queue", MaxNameLen)
	flags := d.optionalFlags("flags", declareQueueDurable|declareQueueDiscard)
	f.Durable = flags&declareQueueDurable != 0
	f.Discard = flags&declareQueueDiscard != 0
	return d.finish()
}

// AppendDeleteQueue appends a DeleteQueue frame.
func AppendDeleteQueue(dst []byte, f *DeleteQueue) []byte {
	dst, start := beginFrame(dst, FrameDeleteQueue)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Name)
	return endFrame(dst, start)
}

// DecodeDeleteQueue decodes a DeleteQueue payload.
func DecodeDeleteQueue(p []byte, f *DeleteQueue) error {
	d := decoder{buf: p, frame: FrameDeleteQueue}
	f.ReqID = d.uvarint("req_id")
	f.Name = d.str("name", MaxNameLen)
	return d.finish()
}

func appendBinding(dst []byte, t FrameType, f *Bind) []byte {
	dst, start := beginFrame(dst, t)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendString(dst, f.Exchange)
	dst = appendString(dst, f.Queue)
	dst = appendString(dst, f.Key)
	return endFrame(dst, start)
}

func decodeBinding(p []byte, t FrameType, f *Bind) error {
	d := decoder{buf: p, frame: t}
	f.ReqID = d.uvarint("req_id")
	f.Exchange = d.str("exchange", MaxNameLen)
	f.Queue = d.str("queue", MaxNameLen)
	f.Key = d.str("key", MaxNameLen)
	return d.finish()
}

// AppendBind appends a Bind frame.
func AppendBind(dst []byte, f *Bind) []byte { return appendBinding(dst, FrameBind, f) }

// DecodeBind decodes a Bind payload.
func DecodeBind(p []byte, f *Bind) error { return decodeBinding(p, FrameBind, f) }

// AppendUnbind appends an Unbind frame.
func AppendUnbind(dst []byte, f *Unbind) []byte {
	return appendBinding(dst, FrameUnbind, (*Bind)(f))
}

// DecodeUnbind decodes an Unbind payload.
func DecodeUnbind(p []byte, f *Unbind) error { return decodeBinding(p, FrameUnbind, (*Bind)(f)) }

// AppendOK appends an OK frame.
func AppendOK(dst []byte, f *OK) []byte {
	dst, start := beginFrame(dst, FrameOK)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendUvarint(dst, f.Count)
	return endFrame(dst, start)
}

// DecodeOK decodes an OK payload.
func DecodeOK(p []byte, f *OK) error {
	d := decoder{buf: p, frame: FrameOK}
	f.ReqID = d.uvarint("req_id")
	f.Count = d.uvarint("count")
	return d.finish()
}

// AppendStats appends a Stats request frame. A request without a cursor
// (List 0) is byte-identical to the frame of clients that predate
// cursors; with List set it carries the flags byte and either Resume
// (when not 0) or After.
func AppendStats(dst []byte, f *Stats) []byte {
	dst, start := beginFrame(dst, FrameStats)
	dst = appendUvarint(dst, f.ReqID)
	if f.List != 0 {
		flags := f.List & statsListMask
		if f.Resume != 0 {
			dst = append(dst, flags|statsResume)
			dst = appendUvarint(dst, f.Resume)
		} else {
			dst = append(dst, flags)
			dst = appendString(dst, f.After)
		}
	}
	return endFrame(dst, start)
}

// Stats flags: bits 0-1 name the list, bit 2 says a resume token follows.
const (
	statsListMask = 3
	statsResume   = 4
)

// DecodeStats decodes a Stats payload. The cursor is optional; when
// present its list must be exactly one of StatsQueues and StatsExchanges,
// and its position a non-empty name or a non-zero token (absent means
// "the first page", so an empty one would be a second encoding of it).
func DecodeStats(p []byte, f *Stats) error {
	d := decoder{buf: p, frame: FrameStats}
	f.ReqID = d.uvarint("req_id")
	f.List, f.After, f.Resume = 0, "", 0
	if d.err == nil && d.off < len(d.buf) {
		flags := d.flags("flags", statsListMask|statsResume)
		f.List = flags & statsListMask
		if d.err == nil && f.List != StatsQueues && f.List != StatsExchanges {
			d.fail("flags", fmt.Errorf("%w: a stats cursor names exactly one list (flags 0x%02x)", ErrBadValue, flags))
		}
		if flags&statsResume != 0 {
			f.Resume = d.uvarint("resume")
			if d.err == nil && f.Resume == 0 {
				d.fail("resume", fmt.Errorf("%w: resume token 0 is not a token", ErrBadValue))
			}
		} else {
			f.After = d.str("after", MaxNameLen)
			if d.err == nil && f.After == "" {
				d.fail("after", fmt.Errorf("%w: an empty cursor is sent by omitting the cursor", ErrBadValue))
			}
		}
	}
	return d.finish()
}

// AppendStatsOK appends a StatsOK frame.
func AppendStatsOK(dst []byte, f *StatsOK) []byte {
	dst, start := beginFrame(dst, FrameStatsOK)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendBytes(dst, f.JSON)
	return endFrame(dst, start)
}

// DecodeStatsOK decodes a StatsOK payload; JSON aliases p and is not parsed.
func DecodeStatsOK(p []byte, f *StatsOK) error {
	d := decoder{buf: p, frame: FrameStatsOK}
	f.ReqID = d.uvarint("req_id")
	f.JSON = d.bytes("json", -1)
	return d.finish()
}

func (*DeclareExchange) FrameType() FrameType { return FrameDeclareExchange }
func (*DeleteExchange) FrameType() FrameType  { return FrameDeleteExchange }
func (*DeclareQueue) FrameType() FrameType    { return FrameDeclareQueue }
func (*DeleteQueue) FrameType() FrameType     { return FrameDeleteQueue }
func (*Bind) FrameType() FrameType            { return FrameBind }
func (*Unbind) FrameType() FrameType          { return FrameUnbind }
func (*OK) FrameType() FrameType              { return FrameOK }
func (*Stats) FrameType() FrameType           { return FrameStats }
func (*StatsOK) FrameType() FrameType         { return FrameStatsOK }

func (f *DeclareExchange) AppendTo(dst []byte) []byte { return AppendDeclareExchange(dst, f) }
func (f *DeleteExchange) AppendTo(dst []byte) []byte  { return AppendDeleteExchange(dst, f) }
func (f *DeclareQueue) AppendTo(dst []byte) []byte    { return AppendDeclareQueue(dst, f) }
func (f *DeleteQueue) AppendTo(dst []byte) []byte     { return AppendDeleteQueue(dst, f) }
func (f *Bind) AppendTo(dst []byte) []byte            { return AppendBind(dst, f) }
func (f *Unbind) AppendTo(dst []byte) []byte          { return AppendUnbind(dst, f) }
func (f *OK) AppendTo(dst []byte) []byte              { return AppendOK(dst, f) }
func (f *Stats) AppendTo(dst []byte) []byte           { return AppendStats(dst, f) }
func (f *StatsOK) AppendTo(dst []byte) []byte         { return AppendStatsOK(dst, f) }
