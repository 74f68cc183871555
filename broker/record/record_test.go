package record

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		b, err := AppendRecord(nil, &r)
		if err != nil {
			t.Fatalf("%s: encode: %v", r.Type, err)
		}
		got, n, err := DecodeRecord(b, testMaxRecordSize)
		if err != nil {
			t.Fatalf("%s: decode: %v", r.Type, err)
		}
		if n != len(b) {
			t.Errorf("%s: decoded %d of %d bytes", r.Type, n, len(b))
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", r.Type, got, r)
		}
	}
}

func TestRecordHeaderLayout(t *testing.T) {
	r := Record{Type: RecDeleteQueue, Queue: "ab"}
	b, err := AppendRecord([]byte("xx"), &r)
	if err != nil {
		t.Fatal(err)
	}
	b = b[2:] // AppendRecord appends after what is there
	want := []byte{3, 0, 0, 0 /*crc*/, 0, 0, 0, 0, byte(RecDeleteQueue), 2, 'a', 'b'}
	copy(want[4:8], b[4:8])
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("bytes %x, want %x", b, want)
	}
	if got := recordCRC(b[0:4], b[8], b[9:]); got != uint32(b[4])|uint32(b[5])<<8|uint32(b[6])<<16|uint32(b[7])<<24 {
		t.Fatalf("crc field does not match CRC-32C of length, type and payload")
	}
}

func TestRecordEncodeRefusesBadInput(t *testing.T) {
	bad := []Record{
		{Type: 0},
		{Type: 99},
		{Type: RecPublish, Seq: 1}, // no targets
		{Type: RecSettle, Seq: 1, Queue: "q", Outcome: 9},
		{Type: RecDeclareQueue, Queue: "q", QueueOptions: QueueOptions{MaxLength: -1}},
	}
	for _, r := range bad {
		out, err := AppendRecord([]byte("keep"), &r)
		if !errors.Is(err, ErrBadRecord) {
			t.Errorf("%+v: err %v, want ErrBadRecord", r, err)
		}
		if string(out) != "keep" {
			t.Errorf("%+v: buffer changed to %q on error", r, out)
		}
	}
}

func TestRecordDecodeDetectsDamage(t *testing.T) {
	r := publish(1, "body", "q")
	b, _ := AppendRecord(nil, &r)
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, _, err := DecodeRecord(c, testMaxRecordSize); err == nil {
			t.Errorf("flip at byte %d not detected", i)
		}
	}
	for cut := 0; cut < len(b); cut++ {
		if _, _, err := DecodeRecord(b[:cut], testMaxRecordSize); !errors.Is(err, errShort) {
			t.Errorf("cut at %d: err %v, want errShort", cut, err)
		}
	}
	if _, _, err := DecodeRecord(b, 3); !errors.Is(err, ErrBadRecord) {
		t.Errorf("length above the limit: err %v", err)
	}
}

func TestPublishReasonIsAnOptionalTrailingByte(t *testing.T) {
	plain := publish(3, "body", "q.dlq")
	old, err := AppendRecord(nil, &plain)
	if err != nil {
		t.Fatal(err)
	}
	// The payload of a reason-less publish is the old format, unchanged.
	wantOld := append([]byte{3, 4}, "id-3"...)
	wantOld = append(wantOld, 2, 'e', 'x', 1, 'k', 1, 5)
	wantOld = append(wantOld, "q.dlq"...)
	wantOld = append(wantOld, 0, 4)
	wantOld = append(wantOld, "body"...)
	if !bytes.Equal(old[HeaderSize:], wantOld) {
		t.Fatalf("reason-less publish payload %x, want the old format %x", old[HeaderSize:], wantOld)
	}
	withReason := plain
	withReason.Reason = 1
	b, err := AppendRecord(nil, &withReason)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[HeaderSize:], append(append([]byte(nil), wantOld...), 1)) {
		t.Fatalf("with a reason: %x", b[HeaderSize:])
	}
	for _, c := range []struct {
		rec  []byte
		want uint8
	}{{old, 0}, {b, 1}} {
		r, _, err := DecodeRecord(c.rec, testMaxRecordSize)
		if err != nil || r.Reason != c.want || string(r.Body) != "body" {
			t.Fatalf("decode: %+v %v", r, err)
		}
	}
	if _, err := DecodePayload(RecPublish, append(append([]byte(nil), wantOld...), 0)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("explicit reason 0: %v", err)
	}
	if _, err := DecodePayload(RecPublish, append(append([]byte(nil), wantOld...), 1, 1)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("byte after the reason: %v", err)
	}
}
