package wire_test

import (
	"bytes"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Generators of valid frames. Empty byte fields are nil, as the decoder
// returns them; string lengths stay inside the protocol limits, sometimes
// exactly at them.

func genName(t *rapid.T, label string) string {
	if rapid.IntRange(0, 20).Draw(t, label+"-max") == 0 {
		return string(bytes.Repeat([]byte{'n'}, wire.MaxNameLen))
	}
	return rapid.StringN(0, 40, wire.MaxNameLen).Draw(t, label)
}

func genBytes(t *rapid.T, label string, max int) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, max).Draw(t, label)
	if len(b) == 0 {
		return nil
	}
	return b
}

func genReason(t *rapid.T) string { return rapid.StringN(0, 100, wire.MaxReasonLen).Draw(t, "reason") }

func genU64(t *rapid.T, label string) uint64 {
	// Mix small values (1-byte varints) with the whole range.
	if rapid.Bool().Draw(t, label+"-small") {
		return rapid.Uint64Max(300).Draw(t, label)
	}
	return rapid.Uint64().Draw(t, label)
}

func genDeliver(t *rapid.T) wire.Deliver {
	var flags uint8
	if rapid.Bool().Draw(t, "redelivered") {
		flags = wire.FlagRedelivered
	}
	return wire.Deliver{
		ConsumerTag: genBytes(t, "ctag", 20), DeliveryTag: genU64(t, "tag"), Flags: flags,
		DeliveryCount: genU64(t, "count"), Queue: genBytes(t, "queue", 20), Exchange: genBytes(t, "exchange", 20),
		RoutingKey: genBytes(t, "key", 20), MessageID: genBytes(t, "id", 40), Body: genBytes(t, "body", 2000),
	}
}

func genPublish(t *rapid.T) wire.Publish {
	return wire.Publish{Seq: genU64(t, "seq"), Exchange: genBytes(t, "x", 30), RoutingKey: genBytes(t, "k", 30),
		MessageID: genBytes(t, "id", wire.MaxMessageIDLen), Body: genBytes(t, "body", 3000)}
}

// genPrefixID draws a prefix id: never 0, which is not assigned.
func genPrefixID(t *rapid.T) uint64 { return max(genU64(t, "prefix-id"), 1) }

// genFeatures draws feature bits, 0 (the field omitted) half of the time.
func genFeatures(t *rapid.T) uint64 {
	if rapid.Bool().Draw(t, "no-features") {
		return 0
	}
	return genU64(t, "features")
}

func genFrame(t *rapid.T) wire.Frame {
	typ := rapid.SampledFrom(wire.FrameTypes()).Draw(t, "type")
	switch typ {
	case wire.FrameHello:
		return &wire.Hello{Version: genU64(t, "v"), ClientName: genName(t, "name"), HeartbeatMs: genU64(t, "hb"), MaxFrameSize: genU64(t, "mf"),
			Features: genFeatures(t)}
	case wire.FrameHelloOK:
		return &wire.HelloOK{ServerName: genName(t, "name"), HeartbeatMs: genU64(t, "hb"), MaxFrameSize: genU64(t, "mf"), MaxMessageSize: genU64(t, "mm"),
			Features: genFeatures(t)}
	case wire.FrameHeartbeat:
		return &wire.Heartbeat{}
	case wire.FrameClose:
		return &wire.Close{Code: rapid.Uint16().Draw(t, "code"), Reason: genReason(t)}
	case wire.FrameBlocked:
		return &wire.Blocked{Reason: genReason(t)}
	case wire.FrameUnblocked:
		return &wire.Unblocked{}
	case wire.FrameAuth:
		var resp []byte
		if rapid.Bool().Draw(t, "hasResp") {
			resp = rapid.SliceOfN(rapid.Byte(), 1, wire.MaxAuthResponseLen).Draw(t, "resp")
		}
		return &wire.Auth{Mechanism: rapid.StringN(0, wire.MaxMechanismLen, wire.MaxMechanismLen).Draw(t, "mech"), Vhost: genName(t, "vhost"), Response: resp}
	case wire.FrameError:
		return &wire.Error{ReqID: genU64(t, "req"), Code: rapid.Uint16().Draw(t, "code"), Message: genReason(t)}
	case wire.FrameDeclareExchange:
		return &wire.DeclareExchange{ReqID: genU64(t, "req"), Name: genName(t, "name"), Type: rapid.Uint8().Draw(t, "xt")}
	case wire.FrameDeleteExchange:
		return &wire.DeleteExchange{ReqID: genU64(t, "req"), Name: genName(t, "name")}
	case wire.FrameDeclareQueue:
		return &wire.DeclareQueue{ReqID: genU64(t, "req"), Name: genName(t, "name"), MaxLength: genU64(t, "ml"), MaxBytes: genU64(t, "mb"),
			AckTimeoutMs: genU64(t, "at"), DeliveryLimit: genU64(t, "dl"), DeadLetterQueue: genName(t, "dlq")}
	case wire.FrameDeleteQueue:
		return &wire.DeleteQueue{ReqID: genU64(t, "req"), Name: genName(t, "name")}
	case wire.FrameBind:
		return &wire.Bind{ReqID: genU64(t, "req"), Exchange: genName(t, "x"), Queue: genName(t, "q"), Key: genName(t, "k")}
	case wire.FrameUnbind:
		return &wire.Unbind{ReqID: genU64(t, "req"), Exchange: genName(t, "x"), Queue: genName(t, "q"), Key: genName(t, "k")}
	case wire.FrameOK:
		return &wire.OK{ReqID: genU64(t, "req"), Count: genU64(t, "count")}
	case wire.FrameStats:
		f := &wire.Stats{ReqID: genU64(t, "req"), List: rapid.Uint8Range(0, 2).Draw(t, "list")}
		switch {
		case f.List == 0:
		case rapid.Bool().Draw(t, "resume"):
			f.Resume = max(genU64(t, "token"), 1)
		default:
			f.After = rapid.StringN(1, 40, wire.MaxNameLen).Draw(t, "after")
		}
		return f
	case wire.FrameStatsOK:
		return &wire.StatsOK{ReqID: genU64(t, "req"), JSON: genBytes(t, "json", 500)}
	case wire.FramePublish:
		p := genPublish(t)
		return &p
	case wire.FrameConfirm:
		first := genU64(t, "first")
		last := rapid.Uint64Min(first).Draw(t, "last")
		return &wire.Confirm{First: first, Last: last, Durable: rapid.Bool().Draw(t, "durable")}
	case wire.FrameNack:
		return &wire.Nack{Seq: genU64(t, "seq"), Code: rapid.Uint16().Draw(t, "code"), Reason: genReason(t)}
	case wire.FrameConfirmDup:
		return &wire.ConfirmDup{Seq: genU64(t, "seq"), Durable: rapid.Bool().Draw(t, "durable")}
	case wire.FrameConsume:
		return &wire.Consume{ReqID: genU64(t, "req"), Queue: genName(t, "q"), ConsumerTag: genName(t, "ctag"), Prefetch: genU64(t, "pf"), AckTimeoutMs: genU64(t, "at")}
	case wire.FrameConsumeOK:
		return &wire.ConsumeOK{ReqID: genU64(t, "req"), ConsumerTag: genName(t, "ctag")}
	case wire.FrameCancel:
		return &wire.Cancel{ReqID: genU64(t, "req"), ConsumerTag: genName(t, "ctag")}
	case wire.FrameCancelled:
		return &wire.Cancelled{ConsumerTag: genName(t, "ctag"), Reason: genReason(t)}
	case wire.FrameDeliver:
		d := genDeliver(t)
		return &d
	case wire.FrameAck:
		return &wire.Ack{DeliveryTag: genU64(t, "tag"), Multiple: rapid.Bool().Draw(t, "multiple")}
	case wire.FrameNackDelivery:
		return &wire.NackDelivery{DeliveryTag: genU64(t, "tag"), Multiple: rapid.Bool().Draw(t, "multiple"), Requeue: rapid.Bool().Draw(t, "requeue")}
	case wire.FrameReject:
		return &wire.Reject{DeliveryTag: genU64(t, "tag")}
	case wire.FrameAckRefused:
		return &wire.AckRefused{DeliveryTag: genU64(t, "tag"), Code: rapid.Uint16().Draw(t, "code"), Reason: genReason(t)}
	case wire.FrameFetch:
		return &wire.Fetch{ReqID: genU64(t, "req"), Queue: genName(t, "q")}
	case wire.FrameFetchOK:
		return &wire.FetchOK{ReqID: genU64(t, "req"), Deliver: genDeliver(t)}
	case wire.FrameFetchEmpty:
		return &wire.FetchEmpty{ReqID: genU64(t, "req")}
	case wire.FramePrefix:
		return &wire.Prefix{ID: genPrefixID(t), Bytes: rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "prefix")}
	case wire.FramePublishRef:
		return &wire.PublishRef{Publish: genPublish(t), PrefixID: genPrefixID(t)}
	case wire.FrameDeliverRef:
		return &wire.DeliverRef{Deliver: genDeliver(t), PrefixID: genPrefixID(t)}
	}
	t.Fatalf("no generator for frame type %v: add one", typ)
	return nil
}

// TestNativeRoundTripProperty: any valid frame survives encode → split →
// decode unchanged, and its encoding is exactly what SplitFrame consumes.
func TestNativeRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genFrame(t)
		raw := in.AppendTo(nil)
		typ, payload, n, err := wire.SplitFrame(raw, 0)
		if err != nil || n != len(raw) || typ != in.FrameType() {
			t.Fatalf("SplitFrame: typ=%v n=%d/%d err=%v", typ, n, len(raw), err)
		}
		out, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip changed the frame:\n in  %#v\n out %#v", in, out)
		}
	})
}

// TestNativeStreamProperty: a stream of frames, delivered in arbitrary
// chunks, comes out of an incremental SplitFrame loop (the simulator's way)
// frame for frame.
func TestNativeStreamProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		frames := rapid.SliceOfN(rapid.Custom(genFrame), 1, 20).Draw(t, "frames")
		var stream []byte
		for _, f := range frames {
			stream = f.AppendTo(stream)
		}
		var pending []byte
		got := 0
		for len(stream) > 0 || len(pending) > 0 {
			if len(stream) > 0 {
				k := rapid.IntRange(1, len(stream)).Draw(t, "chunk")
				pending = append(pending, stream[:k]...)
				stream = stream[k:]
			}
			for {
				typ, payload, n, err := wire.SplitFrame(pending, 0)
				if err != nil {
					t.Fatalf("frame %d: %v", got, err)
				}
				if n == 0 {
					break
				}
				out, err := wire.DecodeFrame(typ, payload)
				if err != nil || !reflect.DeepEqual(out, frames[got]) {
					t.Fatalf("frame %d: %#v %v, want %#v", got, out, err, frames[got])
				}
				got++
				pending = pending[n:]
			}
			if len(stream) == 0 && len(pending) > 0 {
				t.Fatalf("%d bytes left over after the last chunk", len(pending))
			}
		}
		if got != len(frames) {
			t.Fatalf("decoded %d of %d frames", got, len(frames))
		}
	})
}
