package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// framePayload strips the frame header of one encoded frame.
func framePayload(t *testing.T, frame []byte, want wire.FrameType) []byte {
	t.Helper()
	r := wire.NewReader(bytes.NewReader(frame), 1<<20)
	typ, payload, err := r.ReadFrame()
	if err != nil || typ != want {
		t.Fatalf("read back: %v %v", typ, err)
	}
	return append([]byte(nil), payload...)
}

func TestRejectReasonRoundTripAndOldBytes(t *testing.T) {
	plain := framePayload(t, wire.AppendReject(nil, &wire.Reject{DeliveryTag: 300}), wire.FrameReject)
	if !bytes.Equal(plain, []byte{0xac, 0x02}) {
		t.Fatalf("a Reject without reason must stay the old bytes (tag only): %x", plain)
	}
	for _, r := range wire.RejectReasons() {
		if r == wire.ReasonDeliveryLimit {
			continue // the broker's own: refused from a client (below)
		}
		p := framePayload(t, wire.AppendReject(nil, &wire.Reject{DeliveryTag: 300, Reason: r}), wire.FrameReject)
		if !bytes.Equal(p, append(append([]byte(nil), plain...), byte(r))) {
			t.Fatalf("reason %v: payload %x, want the old one plus byte %d", r, p, r)
		}
		var got wire.Reject
		if err := wire.DecodeReject(p, &got); err != nil || got != (wire.Reject{DeliveryTag: 300, Reason: r}) {
			t.Fatalf("reason %v: decoded %+v, %v", r, got, err)
		}
	}
	var got wire.Reject
	if err := wire.DecodeReject(plain, &got); err != nil || got.Reason != wire.ReasonNone {
		t.Fatalf("absent reason: %+v %v", got, err)
	}
	for _, bad := range []struct {
		tail byte
		want error
	}{{0, wire.ErrBadValue}, {200, wire.ErrBadValue}, {byte(wire.ReasonDeliveryLimit), wire.ErrBadValue}} {
		if err := wire.DecodeReject(append(append([]byte(nil), plain...), bad.tail), &got); !errors.Is(err, bad.want) {
			t.Errorf("reason byte %d: err %v, want %v", bad.tail, err, bad.want)
		}
	}
	if err := wire.DecodeReject(append(append([]byte(nil), plain...), 1, 1), &got); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Errorf("byte after the reason: %v", err)
	}
}

func TestNackDeliveryReason(t *testing.T) {
	plain := framePayload(t, wire.AppendNackDelivery(nil, &wire.NackDelivery{DeliveryTag: 5, Multiple: true}), wire.FrameNackDelivery)
	if !bytes.Equal(plain, []byte{5, 1}) {
		t.Fatalf("old bytes changed: %x", plain)
	}
	f := wire.NackDelivery{DeliveryTag: 5, Multiple: true, Reason: wire.ReasonUntrustedSender}
	p := framePayload(t, wire.AppendNackDelivery(nil, &f), wire.FrameNackDelivery)
	var got wire.NackDelivery
	if err := wire.DecodeNackDelivery(p, &got); err != nil || got != f {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if err := wire.DecodeNackDelivery([]byte{5, 0}, &got); err != nil || got.Reason != wire.ReasonNone {
		t.Fatalf("absent reason: %+v %v", got, err)
	}
	if err := wire.DecodeNackDelivery([]byte{5, 0, 0}, &got); !errors.Is(err, wire.ErrBadValue) {
		t.Errorf("explicit reason 0: %v", err)
	}
	if err := wire.DecodeNackDelivery([]byte{5, 0, byte(wire.ReasonDeliveryLimit)}, &got); !errors.Is(err, wire.ErrBadValue) {
		t.Errorf("the broker's own reason from a client: %v", err)
	}
	if err := wire.DecodeNackDelivery([]byte{5, 2, byte(wire.ReasonTampered)}, &got); !errors.Is(err, wire.ErrBadValue) {
		t.Errorf("a reason with requeue must be refused: %v", err)
	}
}

func TestDeliverReason(t *testing.T) {
	base := wire.Deliver{ConsumerTag: []byte("c"), DeliveryTag: 9, Flags: wire.FlagRedelivered, DeliveryCount: 2,
		Queue: []byte("q.dlq"), Exchange: []byte("ex"), RoutingKey: []byte("k"), MessageID: []byte("m1"), Body: []byte("body")}
	plain := framePayload(t, wire.AppendDeliver(nil, &base), wire.FrameDeliver)
	withReason := base
	withReason.Reason = wire.ReasonNotRecipient
	p := framePayload(t, wire.AppendDeliver(nil, &withReason), wire.FrameDeliver)
	// tag "c" (2 bytes), delivery tag (1), flags: bit 1 set and the reason byte after it.
	if p[3] != wire.FlagRedelivered|2 || p[4] != byte(wire.ReasonNotRecipient) || !bytes.Equal(p[5:], plain[4:]) || !bytes.Equal(p[:3], plain[:3]) {
		t.Fatalf("reason encoding: %x vs plain %x", p, plain)
	}
	for _, c := range []struct {
		payload []byte
		want    wire.Deliver
	}{{plain, base}, {p, withReason}} {
		var got wire.Deliver
		if err := wire.DecodeDeliver(c.payload, &got); err != nil || got.Reason != c.want.Reason || got.Flags != c.want.Flags || string(got.Body) != "body" {
			t.Fatalf("decode %x: %+v %v", c.payload, got, err)
		}
	}
	// FetchOK carries the same head.
	fo := wire.FetchOK{ReqID: 3, Deliver: withReason}
	var gotFO wire.FetchOK
	if err := wire.DecodeFetchOK(framePayload(t, wire.AppendFetchOK(nil, &fo), wire.FrameFetchOK), &gotFO); err != nil || gotFO.Deliver.Reason != wire.ReasonNotRecipient {
		t.Fatalf("FetchOK: %+v %v", gotFO, err)
	}
	zero := append(append([]byte(nil), p...), 0)
	copy(zero, p)
	zero[4] = 0
	var got wire.Deliver
	if err := wire.DecodeDeliver(zero[:len(p)], &got); !errors.Is(err, wire.ErrBadValue) {
		t.Errorf("flag bit 1 with reason 0: %v", err)
	}
}

func TestRejectReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range append(wire.RejectReasons(), wire.ReasonNone) {
		name := r.String()
		if seen[name] {
			t.Fatalf("two reasons named %q", name)
		}
		seen[name] = true
		if back, ok := wire.ParseRejectReason(name); !ok || back != r {
			t.Fatalf("parse %q: %v %v", name, back, ok)
		}
	}
	if _, ok := wire.ParseRejectReason("no-such-reason"); ok {
		t.Fatal("unknown name parsed")
	}
	if s := wire.RejectReason(250).String(); s != "reason(250)" {
		t.Fatalf("unknown number: %q", s)
	}
}
