package wiretest

import "github.com/ciphermq/ciphermq/broker/wire"

// NativeCase is one raw native frame and what decoding it must give.
type NativeCase struct {
	Name string
	// Raw is the whole frame: length field, type byte, payload.
	Raw []byte
	// Frame is the decoded value (nil when Err is set). Empty byte fields
	// decode as nil, and so they are written here.
	Frame wire.Frame
	// Err is the sentinel (errors.Is) that SplitFrame or the payload decoder
	// must return; nil for valid frames.
	Err error
	// Field names the field a *wire.DecodeError must report ("" when Err is
	// not a decode error).
	Field string
}

// Valid reports whether the case is a well-formed frame.
func (c NativeCase) Valid() bool { return c.Err == nil }

// NativeCases returns the golden table: at least one valid case per frame
// type, then malformed frames.
func NativeCases() []NativeCase {
	body300 := Repeat('b', 300)
	return append(validNative(body300), malformedNative()...)
}

func validNative(body300 string) []NativeCase {
	return []NativeCase{
		{Name: "hello", Raw: frame(0x01, b(1), s("go-client"), b(0xE8, 0x07), b(0x80, 0x80, 0x40)),
			Frame: &wire.Hello{Version: 1, ClientName: "go-client", HeartbeatMs: 1000, MaxFrameSize: 1 << 20}},
		{Name: "hello with features", Raw: frame(0x01, b(1), s("go"), b(0), b(0), b(1)),
			Frame: &wire.Hello{Version: 1, ClientName: "go", Features: wire.FeatureSharedPrefixes}},
		{Name: "hello unknown feature bits pass the codec", Raw: frame(0x01, b(1), b(0), b(0), b(0), b(0x83, 0x01)),
			Frame: &wire.Hello{Version: 1, Features: 0x83}},
		{Name: "hello zero values", Raw: frame(0x01, b(1), b(0), b(0), b(0)),
			Frame: &wire.Hello{Version: 1}},
		{Name: "auth plain", Raw: frame(0x06, s("PLAIN"), s("/"), s("\x00alice\x00secret")),
			Frame: &wire.Auth{Mechanism: "PLAIN", Vhost: "/", Response: []byte("\x00alice\x00secret")}},
		{Name: "auth external", Raw: frame(0x06, s("EXTERNAL"), s("tenant-a"), b(0)),
			Frame: &wire.Auth{Mechanism: "EXTERNAL", Vhost: "tenant-a"}},
		{Name: "hello ok", Raw: frame(0x02, s("ciphermq"), b(0xB8, 0x17), b(0x80, 0x80, 0x40), b(0x80, 0x80, 0x20)),
			Frame: &wire.HelloOK{ServerName: "ciphermq", HeartbeatMs: 3000, MaxFrameSize: 1 << 20, MaxMessageSize: 1 << 19}},
		{Name: "hello ok with features", Raw: frame(0x02, s("c"), b(0), b(0x80, 0x20), b(0), b(1)),
			Frame: &wire.HelloOK{ServerName: "c", MaxFrameSize: 4096, Features: wire.FeatureSharedPrefixes}},
		{Name: "heartbeat", Raw: frame(0x03), Frame: &wire.Heartbeat{}},
		{Name: "close", Raw: frame(0x04, b(0), s("bye")), Frame: &wire.Close{Code: 0, Reason: "bye"}},
		{Name: "close max reason", Raw: frame(0x04, b(0xF6, 0x03), append(b(0x80, 0x08), Repeat('r', 1024)...)),
			Frame: &wire.Close{Code: 502, Reason: Repeat('r', 1024)}},
		{Name: "blocked", Raw: frame(0x07, s("memory alarm")), Frame: &wire.Blocked{Reason: "memory alarm"}},
		{Name: "blocked empty reason", Raw: frame(0x07, b(0)), Frame: &wire.Blocked{}},
		{Name: "unblocked", Raw: frame(0x08), Frame: &wire.Unblocked{}},
		{Name: "error fatal", Raw: frame(0x05, b(0), b(0x68), s("bad frame")),
			Frame: &wire.Error{ReqID: 0, Code: 104, Message: "bad frame"}},
		{Name: "error request", Raw: frame(0x05, b(0x2A), b(0xC9, 0x01), s("queue 'q' not found")),
			Frame: &wire.Error{ReqID: 42, Code: 201, Message: "queue 'q' not found"}},
		{Name: "declare exchange", Raw: frame(0x10, b(1), s("logs"), b(3)),
			Frame: &wire.DeclareExchange{ReqID: 1, Name: "logs", Type: wire.ExchangeTopic}},
		{Name: "declare exchange unknown type passes the codec", Raw: frame(0x10, b(2), s("x"), b(9)),
			Frame: &wire.DeclareExchange{ReqID: 2, Name: "x", Type: 9}},
		{Name: "delete exchange", Raw: frame(0x11, b(3), s("logs")),
			Frame: &wire.DeleteExchange{ReqID: 3, Name: "logs"}},
		{Name: "declare queue", Raw: frame(0x12, b(4), s("jobs"), b(0x90, 0x4E), b(0x80, 0x80, 0x80, 0x01), b(0xB0, 0xEA, 0x01), b(5), s("jobs.dlq")),
			Frame: &wire.DeclareQueue{ReqID: 4, Name: "jobs", MaxLength: 10000, MaxBytes: 1 << 21, AckTimeoutMs: 30000, DeliveryLimit: 5, DeadLetterQueue: "jobs.dlq"}},
		{Name: "declare queue max name", Raw: frame(0x12, b(5), append(b(0xFF, 0x01), Repeat('q', 255)...), b(0), b(0), b(0), b(0), b(0)),
			Frame: &wire.DeclareQueue{ReqID: 5, Name: Repeat('q', 255)}},
		{Name: "delete queue", Raw: frame(0x13, b(6), s("jobs")),
			Frame: &wire.DeleteQueue{ReqID: 6, Name: "jobs"}},
		{Name: "bind", Raw: frame(0x14, b(7), s("logs"), s("jobs"), s("a.*.c")),
			Frame: &wire.Bind{ReqID: 7, Exchange: "logs", Queue: "jobs", Key: "a.*.c"}},
		{Name: "bind fanout empty key", Raw: frame(0x14, b(8), s("fan"), s("q"), b(0)),
			Frame: &wire.Bind{ReqID: 8, Exchange: "fan", Queue: "q"}},
		{Name: "unbind", Raw: frame(0x15, b(9), s("logs"), s("jobs"), s("a.#")),
			Frame: &wire.Unbind{ReqID: 9, Exchange: "logs", Queue: "jobs", Key: "a.#"}},
		{Name: "ok", Raw: frame(0x16, b(9), b(0)), Frame: &wire.OK{ReqID: 9}},
		{Name: "ok with count", Raw: frame(0x16, b(10), b(0xAC, 0x02)), Frame: &wire.OK{ReqID: 10, Count: 300}},
		{Name: "stats", Raw: frame(0x17, b(11)), Frame: &wire.Stats{ReqID: 11}},
		{Name: "stats ok", Raw: frame(0x18, b(11), s(`{"queues":1}`)),
			Frame: &wire.StatsOK{ReqID: 11, JSON: []byte(`{"queues":1}`)}},
		{Name: "publish", Raw: frame(0x20, b(1), s("default_exchange"), s("default_key"), s("m-1"), s("hello")),
			Frame: &wire.Publish{Seq: 1, Exchange: []byte("default_exchange"), RoutingKey: []byte("default_key"), MessageID: []byte("m-1"), Body: []byte("hello")}},
		{Name: "publish default exchange empty body", Raw: frame(0x20, b(0xFF, 0xFF, 0x03), b(0), s("q"), s("m-2"), b(0)),
			Frame: &wire.Publish{Seq: 65535, RoutingKey: []byte("q"), MessageID: []byte("m-2")}},
		{Name: "publish 300-byte body", Raw: frame(0x20, b(2), s("x"), s("k"), s("m-3"), long(body300)),
			Frame: &wire.Publish{Seq: 2, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-3"), Body: []byte(body300)}},
		{Name: "publish max seq", Raw: frame(0x20, b(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), b(0), b(0), s("m"), b(0)),
			Frame: &wire.Publish{Seq: 1<<64 - 1, MessageID: []byte("m")}},
		{Name: "prefix", Raw: frame(0x24, b(1), s("cmq1HDR")),
			Frame: &wire.Prefix{ID: 1, Bytes: []byte("cmq1HDR")}},
		{Name: "prefix 300 bytes id 300", Raw: frame(0x24, b(0xAC, 0x02), long(body300)),
			Frame: &wire.Prefix{ID: 300, Bytes: []byte(body300)}},
		{Name: "publish ref", Raw: frame(0x25, b(2), s("x"), s("k"), s("m-4"), b(1), s("rest")),
			Frame: &wire.PublishRef{Publish: wire.Publish{Seq: 2, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-4"), Body: []byte("rest")}, PrefixID: 1}},
		{Name: "publish ref empty rest", Raw: frame(0x25, b(3), b(0), s("q"), s("m-5"), b(0x21), b(0)),
			Frame: &wire.PublishRef{Publish: wire.Publish{Seq: 3, RoutingKey: []byte("q"), MessageID: []byte("m-5")}, PrefixID: 33}},
		{Name: "confirm one", Raw: frame(0x21, b(5), b(5)), Frame: &wire.Confirm{First: 5, Last: 5}},
		{Name: "confirm range", Raw: frame(0x21, b(1), b(0xAC, 0x02)), Frame: &wire.Confirm{First: 1, Last: 300}},
		{Name: "confirm range durable", Raw: frame(0x21, b(1), b(0xAC, 0x02), b(1)), Frame: &wire.Confirm{First: 1, Last: 300, Durable: true}},
		{Name: "nack", Raw: frame(0x22, b(3), b(0xAC, 0x02), s("no route")),
			Frame: &wire.Nack{Seq: 3, Code: 300, Reason: "no route"}},
		{Name: "confirm dup", Raw: frame(0x23, b(4)), Frame: &wire.ConfirmDup{Seq: 4}},
		{Name: "confirm dup durable", Raw: frame(0x23, b(4), b(1)), Frame: &wire.ConfirmDup{Seq: 4, Durable: true}},
		{Name: "consume", Raw: frame(0x30, b(12), s("jobs"), s("c1"), b(0x40), b(0)),
			Frame: &wire.Consume{ReqID: 12, Queue: "jobs", ConsumerTag: "c1", Prefetch: 64}},
		{Name: "consume ok", Raw: frame(0x31, b(12), s("ctag-1")),
			Frame: &wire.ConsumeOK{ReqID: 12, ConsumerTag: "ctag-1"}},
		{Name: "cancel", Raw: frame(0x32, b(13), s("ctag-1")),
			Frame: &wire.Cancel{ReqID: 13, ConsumerTag: "ctag-1"}},
		{Name: "deliver", Raw: frame(0x33, s("c1"), b(0x81, 0x01), b(1), b(2), s("jobs"), s("x"), s("k"), s("m-1"), s("hello")),
			Frame: &wire.Deliver{ConsumerTag: []byte("c1"), DeliveryTag: 129, Flags: wire.FlagRedelivered, DeliveryCount: 2,
				Queue: []byte("jobs"), Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-1"), Body: []byte("hello")}},
		{Name: "deliver first attempt", Raw: frame(0x33, s("c1"), b(1), b(0), b(1), s("q"), b(0), s("q"), s("m"), b(0)),
			Frame: &wire.Deliver{ConsumerTag: []byte("c1"), DeliveryTag: 1, DeliveryCount: 1, Queue: []byte("q"), RoutingKey: []byte("q"), MessageID: []byte("m")}},
		{Name: "deliver ref", Raw: frame(0x3C, s("c1"), b(5), b(0), b(1), s("q"), s("x"), s("k"), s("m-4"), b(7), s("rest")),
			Frame: &wire.DeliverRef{Deliver: wire.Deliver{ConsumerTag: []byte("c1"), DeliveryTag: 5, DeliveryCount: 1,
				Queue: []byte("q"), Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-4"), Body: []byte("rest")}, PrefixID: 7}},
		{Name: "ack", Raw: frame(0x34, b(7), b(0)), Frame: &wire.Ack{DeliveryTag: 7}},
		{Name: "ack multiple", Raw: frame(0x34, b(0x90, 0x4E), b(1)), Frame: &wire.Ack{DeliveryTag: 10000, Multiple: true}},
		{Name: "nack delivery requeue", Raw: frame(0x35, b(8), b(2)), Frame: &wire.NackDelivery{DeliveryTag: 8, Requeue: true}},
		{Name: "nack delivery multiple requeue", Raw: frame(0x35, b(9), b(3)),
			Frame: &wire.NackDelivery{DeliveryTag: 9, Multiple: true, Requeue: true}},
		{Name: "reject", Raw: frame(0x36, b(10)), Frame: &wire.Reject{DeliveryTag: 10}},
		{Name: "reject with reason", Raw: frame(0x36, b(10), b(1)), Frame: &wire.Reject{DeliveryTag: 10, Reason: wire.ReasonNotRecipient}},
		{Name: "nack delivery with reason", Raw: frame(0x35, b(9), b(1), b(3)),
			Frame: &wire.NackDelivery{DeliveryTag: 9, Multiple: true, Reason: wire.ReasonUntrustedSender}},
		{Name: "deliver dead-lettered", Raw: frame(0x33, s("c1"), b(2), b(3), b(17), b(1), s("q.dlq"), s("x"), s("k"), s("m-2"), s("hi")),
			Frame: &wire.Deliver{ConsumerTag: []byte("c1"), DeliveryTag: 2, Flags: wire.FlagRedelivered, DeliveryCount: 1, Reason: wire.ReasonDeliveryLimit,
				Queue: []byte("q.dlq"), Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-2"), Body: []byte("hi")}},
		{Name: "ack refused", Raw: frame(0x37, b(11), b(0x90, 0x03), s("unknown delivery tag 11")),
			Frame: &wire.AckRefused{DeliveryTag: 11, Code: 400, Reason: "unknown delivery tag 11"}},
		{Name: "fetch", Raw: frame(0x38, b(14), s("jobs")), Frame: &wire.Fetch{ReqID: 14, Queue: "jobs"}},
		{Name: "fetch ok", Raw: frame(0x39, b(14), b(0), b(3), b(0), b(1), s("jobs"), s("x"), s("k"), s("m-9"), s("hi")),
			Frame: &wire.FetchOK{ReqID: 14, Deliver: wire.Deliver{DeliveryTag: 3, DeliveryCount: 1,
				Queue: []byte("jobs"), Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-9"), Body: []byte("hi")}}},
		{Name: "fetch empty", Raw: frame(0x3A, b(15)), Frame: &wire.FetchEmpty{ReqID: 15}},
		{Name: "cancelled", Raw: frame(0x3B, s("ctag-1"), s("queue deleted")),
			Frame: &wire.Cancelled{ConsumerTag: "ctag-1", Reason: "queue deleted"}},
	}
}

func malformedNative() []NativeCase {
	return []NativeCase{
		// Framing.
		{Name: "empty frame", Raw: b(0, 0, 0, 0), Err: wire.ErrEmptyFrame},
		{Name: "frame over the default limit", Raw: b(0x00, 0x11, 0x00, 0x00, 0x20), Err: wire.ErrFrameTooLarge},
		{Name: "huge length", Raw: b(0xFF, 0xFF, 0xFF, 0xFF, 0x20), Err: wire.ErrFrameTooLarge},
		{Name: "unknown frame type", Raw: frame(0x7F, b(1, 2, 3)), Err: wire.ErrUnknownFrameType},
		{Name: "type zero is unknown", Raw: frame(0x00), Err: wire.ErrUnknownFrameType},

		// Varints.
		{Name: "seq overflows 64 bits", Raw: frame(0x20, b(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02), b(0), b(0), b(0), b(0)),
			Err: wire.ErrVarintOverflow, Field: "seq"},
		{Name: "seq eleven bytes", Raw: frame(0x20, b(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), b(0), b(0), b(0), b(0)),
			Err: wire.ErrVarintOverflow, Field: "seq"},
		{Name: "seq not minimal", Raw: frame(0x20, b(0x81, 0x00), b(0), b(0), b(0), b(0)),
			Err: wire.ErrVarintNonMinimal, Field: "seq"},
		{Name: "delivery tag varint cut", Raw: frame(0x34, b(0x81)), Err: wire.ErrFieldTruncated, Field: "delivery_tag"},
		{Name: "code above 16 bits", Raw: frame(0x05, b(1), b(0x80, 0x80, 0x04), s("x")), Err: wire.ErrBadValue, Field: "code"},

		// Lengths and trailing bytes.
		{Name: "publish empty payload", Raw: frame(0x20), Err: wire.ErrFieldTruncated, Field: "seq"},
		{Name: "exchange length past payload", Raw: frame(0x20, b(1), b(10), []byte("abc")), Err: wire.ErrFieldTruncated, Field: "exchange"},
		{Name: "body length past payload", Raw: frame(0x20, b(1), b(0), b(0), s("m"), b(0x05), []byte("abcd")), Err: wire.ErrFieldTruncated, Field: "body"},
		{Name: "publish trailing byte", Raw: frame(0x20, b(1), b(0), b(0), s("m"), b(0), b(0)), Err: wire.ErrTrailingBytes, Field: "end"},
		{Name: "heartbeat with payload", Raw: frame(0x03, b(0)), Err: wire.ErrTrailingBytes, Field: "end"},
		{Name: "unblocked with payload", Raw: frame(0x08, b(0)), Err: wire.ErrTrailingBytes, Field: "end"},
		{Name: "blocked missing reason", Raw: frame(0x07), Err: wire.ErrFieldTruncated, Field: "reason"},
		{Name: "hello missing fields", Raw: frame(0x01, b(1), s("c")), Err: wire.ErrFieldTruncated, Field: "heartbeat_ms"},
		{Name: "ack missing flags", Raw: frame(0x34, b(1)), Err: wire.ErrFieldTruncated, Field: "flags"},

		// String limits.
		{Name: "exchange 256 bytes", Raw: frame(0x20, b(1), append(b(0x80, 0x02), Repeat('x', 256)...), b(0), b(0), b(0)),
			Err: wire.ErrTooLong, Field: "exchange"},
		{Name: "message id 256 bytes", Raw: frame(0x20, b(1), b(0), b(0), append(b(0x80, 0x02), Repeat('m', 256)...), b(0)),
			Err: wire.ErrTooLong, Field: "message_id"},
		{Name: "queue name 256 bytes", Raw: frame(0x12, b(1), append(b(0x80, 0x02), Repeat('q', 256)...), b(0), b(0), b(0), b(0), b(0)),
			Err: wire.ErrTooLong, Field: "name"},
		{Name: "close reason 1025 bytes", Raw: frame(0x04, b(0), append(b(0x81, 0x08), Repeat('r', 1025)...)),
			Err: wire.ErrTooLong, Field: "reason"},
		{Name: "length claims more than the limit before the bytes", Raw: frame(0x22, b(1), b(1), b(0xFF, 0xFF, 0x03)),
			Err: wire.ErrTooLong, Field: "reason"},

		// Values.
		{Name: "confirm first after last", Raw: frame(0x21, b(5), b(4)), Err: wire.ErrBadValue, Field: "last"},
		{Name: "ack unknown flag", Raw: frame(0x34, b(1), b(2)), Err: wire.ErrBadValue, Field: "flags"},
		{Name: "nack delivery unknown flag", Raw: frame(0x35, b(1), b(4)), Err: wire.ErrBadValue, Field: "flags"},
		{Name: "confirm explicit zero flags", Raw: frame(0x21, b(1), b(2), b(0)),
			Err: wire.ErrBadValue, Field: "flags"},
		{Name: "confirm unknown flag bits", Raw: frame(0x21, b(1), b(2), b(2)),
			Err: wire.ErrBadValue, Field: "flags"},
		{Name: "confirm dup explicit zero flags", Raw: frame(0x23, b(4), b(0)),
			Err: wire.ErrBadValue, Field: "flags"},
		{Name: "hello explicit zero features", Raw: frame(0x01, b(1), b(0), b(0), b(0), b(0)),
			Err: wire.ErrBadValue, Field: "features"},
		{Name: "hello ok explicit zero features", Raw: frame(0x02, b(0), b(0), b(0), b(0), b(0)),
			Err: wire.ErrBadValue, Field: "features"},
		{Name: "hello trailing byte after features", Raw: frame(0x01, b(1), b(0), b(0), b(0), b(1), b(1)),
			Err: wire.ErrTrailingBytes, Field: "end"},
		{Name: "prefix id zero", Raw: frame(0x24, b(0), s("p")), Err: wire.ErrBadValue, Field: "prefix_id"},
		{Name: "prefix empty", Raw: frame(0x24, b(1), b(0)), Err: wire.ErrBadValue, Field: "bytes"},
		{Name: "prefix above 128 KiB", Raw: frame(0x24, b(1), b(0x81, 0x80, 0x08)), Err: wire.ErrTooLong, Field: "bytes"},
		{Name: "publish ref prefix id zero", Raw: frame(0x25, b(1), b(0), b(0), s("m"), b(0), b(0)),
			Err: wire.ErrBadValue, Field: "prefix_id"},
		{Name: "publish ref missing body", Raw: frame(0x25, b(1), b(0), b(0), s("m"), b(1)),
			Err: wire.ErrFieldTruncated, Field: "body"},
		{Name: "deliver ref prefix id zero", Raw: frame(0x3C, b(0), b(1), b(0), b(1), s("q"), b(0), b(0), s("m"), b(0), b(0)),
			Err: wire.ErrBadValue, Field: "prefix_id"},
		{Name: "deliver unknown flag", Raw: frame(0x33, b(0), b(1), b(0x80), b(1), s("q"), b(0), b(0), s("m"), b(0)),
			Err: wire.ErrBadValue, Field: "flags"},
	}
}
