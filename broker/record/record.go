package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// RecordType says what a record means. The numbers are on disk: never
// renumber them.
type RecordType uint8

const (
	RecDeclareExchange RecordType = 1 // Exchange, ExchangeType
	RecDeleteExchange  RecordType = 2 // Exchange
	RecDeclareQueue    RecordType = 3 // Queue, QueueOptions (durable queues only)
	RecDeleteQueue     RecordType = 4 // Queue; discards every message it held
	RecBind            RecordType = 5 // Exchange, Queue, Key
	RecUnbind          RecordType = 6 // Exchange, Queue, Key
	// RecPublish: message Seq with MessageID, Exchange, Key, Body is in
	// every queue of Targets. A second RecPublish with the same Seq (written
	// by compaction) replaces the first: same message, newer location.
	RecPublish   RecordType = 7
	RecDelivered RecordType = 8  // Seq was delivered once more from Queue
	RecSettle    RecordType = 9  // Seq left Queue for good (Outcome)
	RecDedup     RecordType = 10 // MessageID was accepted at Time
)

func (t RecordType) String() string {
	switch t {
	case RecDeclareExchange:
		return "declare-exchange"
	case RecDeleteExchange:
		return "delete-exchange"
	case RecDeclareQueue:
		return "declare-queue"
	case RecDeleteQueue:
		return "delete-queue"
	case RecBind:
		return "bind"
	case RecUnbind:
		return "unbind"
	case RecPublish:
		return "publish"
	case RecDelivered:
		return "delivered"
	case RecSettle:
		return "settle"
	case RecDedup:
		return "dedup"
	}
	return fmt.Sprintf("record-type(%d)", uint8(t))
}

// Outcome is how a message left a queue.
type Outcome uint8

const (
	Acked        Outcome = 1
	DeadLettered Outcome = 2 // a copy went to the dead-letter queue (its own RecPublish)
	Discarded    Outcome = 3 // dropped and counted (no dead-letter queue, or it was full)
)

// queueFlagDiscard is the only bit of RecDeclareQueue's optional flags byte.
const queueFlagDiscard = 1

// QueueOptions mirror broker.QueueOptions. The store does not import the
// core (the core will import the store's record types), so it keeps its
// own copy of the fields it persists.
type QueueOptions struct {
	MaxLength       int64
	MaxBytes        int64
	AckTimeout      time.Duration
	DeliveryLimit   int64
	DeadLetterQueue string
	// Discard: written as an optional trailing flags byte (bit 0), omitted
	// when false so that logs written before it read unchanged.
	Discard bool
}

// Target is one queue a message sits in, with the deliveries made from it.
type Target struct {
	Queue      string
	Deliveries uint32
}

// Record is one entry of the log. Which fields count depends on Type (see
// the RecordType constants); the others must be zero. Decoded records
// share nothing with the buffer they came from.
type Record struct {
	Type         RecordType
	Exchange     string
	Queue        string
	Key          string
	ExchangeType uint8
	QueueOptions QueueOptions
	Seq          uint64
	MessageID    string
	// BodyPrefix, when set, is written before Body as one field: on disk
	// the body is BodyPrefix ‖ Body, and a decoded record has it all in
	// Body (BodyPrefix nil). It lets the broker log a message whose body is
	// a shared prefix and a rest without joining them first.
	BodyPrefix []byte
	Body       []byte
	Targets    []Target
	Outcome    Outcome
	Time       int64 // unix nanoseconds
	// Reason (RecPublish only) is why the copy was dead-lettered: a
	// wire.RejectReason number, 0 for none. Written as an optional
	// trailing byte after the body, omitted for 0 (so logs written before
	// it read unchanged, and a publish record without a reason is
	// byte-identical to the old format); an explicit 0 is refused.
	Reason uint8
}

// On disk a record is a 9-byte header and a payload:
//
//	0..3  payload length N, uint32 little endian
//	4..7  CRC-32C (Castagnoli) of bytes 0..3, byte 8 and the payload
//	8     record type
//	9..   payload, N bytes
const headerSize = 9

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendRecord encodes r at the end of dst.
func AppendRecord(dst []byte, r *Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	var err error
	dst, err = appendPayload(dst, r)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - headerSize
	if uint64(n) > uint64(^uint32(0)) {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	h := dst[start:]
	binary.LittleEndian.PutUint32(h[0:4], uint32(n))
	h[8] = byte(r.Type)
	binary.LittleEndian.PutUint32(h[4:8], recordCRC(h[0:4], h[8], h[headerSize:]))
	return dst, nil
}

func recordCRC(length []byte, typ byte, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, length)
	c = crc32.Update(c, castagnoli, []byte{typ})
	return crc32.Update(c, castagnoli, payload)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func nonNeg(name string, v int64) (uint64, error) {
	if v < 0 {
		return 0, fmt.Errorf("%w: %s is negative (%d)", ErrBadRecord, name, v)
	}
	return uint64(v), nil
}

func appendPayload(b []byte, r *Record) ([]byte, error) {
	switch r.Type {
	case RecDeclareExchange:
		b = appendString(b, r.Exchange)
		b = append(b, r.ExchangeType)
	case RecDeleteExchange:
		b = appendString(b, r.Exchange)
	case RecDeclareQueue:
		o := r.QueueOptions
		b = appendString(b, r.Queue)
		for _, f := range []struct {
			name string
			v    int64
		}{{"max length", o.MaxLength}, {"max bytes", o.MaxBytes}, {"ack timeout", int64(o.AckTimeout)}, {"delivery limit", o.DeliveryLimit}} {
			u, err := nonNeg(f.name, f.v)
			if err != nil {
				return b, err
			}
			b = binary.AppendUvarint(b, u)
		}
		b = appendString(b, o.DeadLetterQueue)
		if o.Discard {
			b = append(b, queueFlagDiscard)
		}
	case RecDeleteQueue:
		b = appendString(b, r.Queue)
	case RecBind, RecUnbind:
		b = appendString(b, r.Exchange)
		b = appendString(b, r.Queue)
		b = appendString(b, r.Key)
	case RecPublish:
		if len(r.Targets) == 0 {
			return b, fmt.Errorf("%w: publish of message %d without a target queue", ErrBadRecord, r.Seq)
		}
		b = binary.AppendUvarint(b, r.Seq)
		b = appendString(b, r.MessageID)
		b = appendString(b, r.Exchange)
		b = appendString(b, r.Key)
		b = binary.AppendUvarint(b, uint64(len(r.Targets)))
		for _, t := range r.Targets {
			b = appendString(b, t.Queue)
			b = binary.AppendUvarint(b, uint64(t.Deliveries))
		}
		b = binary.AppendUvarint(b, uint64(len(r.BodyPrefix)+len(r.Body)))
		b = append(b, r.BodyPrefix...)
		b = append(b, r.Body...)
		if r.Reason != 0 {
			b = append(b, r.Reason)
		}
	case RecDelivered:
		b = binary.AppendUvarint(b, r.Seq)
		b = appendString(b, r.Queue)
	case RecSettle:
		if r.Outcome < Acked || r.Outcome > Discarded {
			return b, fmt.Errorf("%w: unknown settle outcome %d", ErrBadRecord, r.Outcome)
		}
		b = binary.AppendUvarint(b, r.Seq)
		b = appendString(b, r.Queue)
		b = append(b, byte(r.Outcome))
	case RecDedup:
		b = appendString(b, r.MessageID)
		b = binary.AppendVarint(b, r.Time)
	default:
		return b, fmt.Errorf("%w: unknown record type %d", ErrBadRecord, r.Type)
	}
	return b, nil
}

// DecodeRecord decodes the record at the start of b, checking its length
// against maxSize and its checksum. It returns the record and the bytes it
// took. A short b (a torn record) is reported as errShort.
func DecodeRecord(b []byte, maxSize int) (Record, int, error) {
	return decodeRecord(b, maxSize, true)
}

// decodeRecord with copyBody false leaves Body aliasing b: replay only
// needs a body's location, and copying 512 MB of bodies to throw them away
// doubled recovery time.
func decodeRecord(b []byte, maxSize int, copyBody bool) (Record, int, error) {
	if len(b) < headerSize {
		return Record{}, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if uint64(n) > uint64(maxSize) {
		return Record{}, 0, fmt.Errorf("%w: length %d above the limit %d", ErrBadRecord, n, maxSize)
	}
	total := headerSize + int(n)
	if len(b) < total {
		return Record{}, 0, errShort
	}
	if got, want := recordCRC(b[0:4], b[8], b[headerSize:total]), binary.LittleEndian.Uint32(b[4:8]); got != want {
		return Record{}, 0, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrBadRecord, want, got)
	}
	r, err := decodePayload(RecordType(b[8]), b[headerSize:total], copyBody)
	if err != nil {
		return Record{}, 0, err
	}
	return r, total, nil
}

// errShort: the buffer ends inside a record.
var errShort = fmt.Errorf("%w: truncated", ErrBadRecord)

type reader struct {
	b   []byte
	err error
}

func (d *reader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: malformed %s", ErrBadRecord, what)
	}
}

func (d *reader) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *reader) str(what string) string { return string(d.bytes(what)) }

func (d *reader) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// int63 reads a uvarint that must fit a non-negative int64.
func (d *reader) int63(what string) int64 {
	v := d.uvarint(what)
	if v > 1<<63-1 {
		d.fail(what)
		return 0
	}
	return int64(v)
}

func decodePayload(t RecordType, p []byte, copyBody bool) (Record, error) {
	d := &reader{b: p}
	r := Record{Type: t}
	switch t {
	case RecDeclareExchange:
		r.Exchange = d.str("exchange name")
		r.ExchangeType = d.byte("exchange type")
	case RecDeleteExchange:
		r.Exchange = d.str("exchange name")
	case RecDeclareQueue:
		r.Queue = d.str("queue name")
		r.QueueOptions.MaxLength = d.int63("max length")
		r.QueueOptions.MaxBytes = d.int63("max bytes")
		r.QueueOptions.AckTimeout = time.Duration(d.int63("ack timeout"))
		r.QueueOptions.DeliveryLimit = d.int63("delivery limit")
		r.QueueOptions.DeadLetterQueue = d.str("dead-letter queue")
		if d.err == nil && len(d.b) > 0 {
			if d.byte("queue flags") != queueFlagDiscard {
				d.fail("queue flags")
			}
			r.QueueOptions.Discard = d.err == nil
		}
	case RecDeleteQueue:
		r.Queue = d.str("queue name")
	case RecBind, RecUnbind:
		r.Exchange = d.str("exchange name")
		r.Queue = d.str("queue name")
		r.Key = d.str("binding key")
	case RecPublish:
		r.Seq = d.uvarint("message sequence")
		r.MessageID = d.str("message id")
		r.Exchange = d.str("exchange name")
		r.Key = d.str("routing key")
		n := d.uvarint("target count")
		// Each target takes at least 2 bytes: bound the allocation by
		// what the payload could hold, so a bad count cannot exhaust memory.
		if d.err == nil && (n == 0 || n > uint64(len(d.b))/2) {
			d.fail("target count")
		}
		if d.err == nil {
			r.Targets = make([]Target, 0, n)
			for i := uint64(0); i < n && d.err == nil; i++ {
				q := d.str("target queue")
				c := d.uvarint("delivery count")
				if c > uint64(^uint32(0)) {
					d.fail("delivery count")
				}
				r.Targets = append(r.Targets, Target{Queue: q, Deliveries: uint32(c)})
			}
		}
		if body := d.bytes("body"); d.err == nil {
			r.Body = body
			if copyBody {
				r.Body = append([]byte(nil), body...)
			}
		}
		if d.err == nil && len(d.b) > 0 {
			// The reason's number is not checked against the table here:
			// the store keeps what the core wrote; 0 is refused so that
			// each record has one encoding.
			if r.Reason = d.byte("dead-letter reason"); r.Reason == 0 {
				d.fail("dead-letter reason (0 is written by omitting it)")
			}
		}
	case RecDelivered:
		r.Seq = d.uvarint("message sequence")
		r.Queue = d.str("queue name")
	case RecSettle:
		r.Seq = d.uvarint("message sequence")
		r.Queue = d.str("queue name")
		r.Outcome = Outcome(d.byte("outcome"))
		if d.err == nil && (r.Outcome < Acked || r.Outcome > Discarded) {
			d.fail("outcome")
		}
	case RecDedup:
		r.MessageID = d.str("message id")
		r.Time = d.varint("time")
	default:
		return Record{}, fmt.Errorf("%w: unknown record type %d", ErrBadRecord, t)
	}
	if d.err != nil {
		return Record{}, fmt.Errorf("%s record: %w", t, d.err)
	}
	if len(d.b) != 0 {
		return Record{}, fmt.Errorf("%w: %s record has %d trailing bytes", ErrBadRecord, t, len(d.b))
	}
	return r, nil
}
