package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// declareQueuePayload strips the frame header AppendDeclareQueue wrote, by decoding
// with the package's own frame reader.
func declareQueuePayload(t *testing.T, f *wire.DeclareQueue) []byte {
	t.Helper()
	frame := wire.AppendDeclareQueue(nil, f)
	r := wire.NewReader(bytes.NewReader(frame), 1<<20)
	typ, payload, err := r.ReadFrame()
	if err != nil || typ != wire.FrameDeclareQueue {
		t.Fatalf("read back: %v %v", typ, err)
	}
	return append([]byte(nil), payload...)
}

func TestDeclareQueueDurableFlag(t *testing.T) {
	plain := wire.DeclareQueue{ReqID: 7, Name: "q", MaxLength: 3, DeadLetterQueue: "dlq"}
	durable := plain
	durable.Durable = true
	pp := declareQueuePayload(t, &plain)
	dp := declareQueuePayload(t, &durable)
	if !bytes.Equal(dp[:len(pp)], pp) || len(dp) != len(pp)+1 || dp[len(pp)] != 1 {
		t.Fatalf("durable payload %x should be the plain one %x plus flag byte 01", dp, pp)
	}
	for _, c := range []struct {
		payload []byte
		want    bool
	}{{pp, false}, {dp, true}} {
		var got wire.DeclareQueue
		if err := wire.DecodeDeclareQueue(c.payload, &got); err != nil || got.Durable != c.want || got.Name != "q" || got.DeadLetterQueue != "dlq" {
			t.Fatalf("decode %x: %+v %v", c.payload, got, err)
		}
	}
	bad := append(append([]byte(nil), pp...), 0x04)
	var got wire.DeclareQueue
	if err := wire.DecodeDeclareQueue(bad, &got); !errors.Is(err, wire.ErrBadValue) {
		t.Fatalf("unknown flag bit: %v", err)
	}
	zero := append(append([]byte(nil), pp...), 0x00)
	if err := wire.DecodeDeclareQueue(zero, &got); !errors.Is(err, wire.ErrBadValue) {
		t.Fatalf("explicit zero flags must be refused (one encoding per frame): %v", err)
	}
	extra := append(append([]byte(nil), dp...), 0x00)
	if err := wire.DecodeDeclareQueue(extra, &got); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Fatalf("byte after flags: %v", err)
	}
}

func TestDeclareQueueDiscardFlag(t *testing.T) {
	plain := wire.DeclareQueue{ReqID: 7, Name: "q"}
	pp := declareQueuePayload(t, &plain)
	for _, c := range []struct {
		durable, discard bool
		flags            byte
	}{{false, true, 0x02}, {true, true, 0x03}} {
		f := plain
		f.Durable, f.Discard = c.durable, c.discard
		p := declareQueuePayload(t, &f)
		if !bytes.Equal(p[:len(pp)], pp) || len(p) != len(pp)+1 || p[len(pp)] != c.flags {
			t.Fatalf("%+v: payload %x, want %x plus flags %02x", f, p, pp, c.flags)
		}
		var got wire.DeclareQueue
		if err := wire.DecodeDeclareQueue(p, &got); err != nil || got != f {
			t.Fatalf("decode %x: %+v %v, want %+v", p, got, err, f)
		}
	}
}
