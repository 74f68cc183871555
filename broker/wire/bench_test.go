package wire_test

import (
	"bytes"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

var body512 = bytes.Repeat([]byte{0xAB}, 512)

func benchPublish() wire.Publish {
	return wire.Publish{Seq: 123456, Exchange: []byte("default_exchange"), RoutingKey: []byte("default_key"),
		MessageID: []byte("3f2b8c1e-9d4a-4c7b-8e2f-1a6d5c4b3a29"), Body: body512}
}

func benchDeliver() wire.Deliver {
	return wire.Deliver{ConsumerTag: []byte("ctag-1"), DeliveryTag: 987654, DeliveryCount: 1,
		Queue: []byte("default_queue"), Exchange: []byte("default_exchange"), RoutingKey: []byte("default_key"),
		MessageID: []byte("3f2b8c1e-9d4a-4c7b-8e2f-1a6d5c4b3a29"), Body: body512}
}

// BenchmarkPublishEncodeDecode: append a Publish frame, split it, decode it.
func BenchmarkPublishEncodeDecode(b *testing.B) {
	in := benchPublish()
	buf := make([]byte, 0, 1024)
	var out wire.Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(wire.AppendPublish(nil, &in))))
	for b.Loop() {
		buf = wire.AppendPublish(buf[:0], &in)
		_, payload, _, err := wire.SplitFrame(buf, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.DecodePublish(payload, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverEncodeDecode: the same for the broker's hot frame.
func BenchmarkDeliverEncodeDecode(b *testing.B) {
	in := benchDeliver()
	buf := make([]byte, 0, 1024)
	var out wire.Deliver
	b.ReportAllocs()
	b.SetBytes(int64(len(wire.AppendDeliver(nil, &in))))
	for b.Loop() {
		buf = wire.AppendDeliver(buf[:0], &in)
		_, payload, _, err := wire.SplitFrame(buf, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.DecodeDeliver(payload, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// loopReader replays the same bytes forever, so the Reader benchmark
// measures framing, not the source.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// BenchmarkReaderPublish: ReadFrame + DecodePublish over a stream of
// batched 512-byte publishes.
func BenchmarkReaderPublish(b *testing.B) {
	in := benchPublish()
	var stream []byte
	for range 64 {
		stream = wire.AppendPublish(stream, &in)
	}
	r := wire.NewReader(&loopReader{data: stream}, 0)
	var out wire.Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(stream) / 64))
	for b.Loop() {
		_, payload, err := r.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.DecodePublish(payload, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTextPublishParse: one reference-format publish line.
func BenchmarkTextPublishParse(b *testing.B) {
	line := []byte("publish default_exchange default_key " + wiretest.SeedEnvelope)
	var c wire.TextCommand
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := wire.ParseCommandInto(line, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTextMessageReply: the push line of a delivery.
func BenchmarkTextMessageReply(b *testing.B) {
	id := []byte(wiretest.SeedEnvelopeID)
	body := []byte(wiretest.SeedEnvelope)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = wire.AppendReplyMessage(buf[:0], id, body)
	}
}

// TestHotPathDoesNotAllocate pins the 0-alloc promise in an ordinary test,
// so a regression fails CI instead of waiting for someone to read a benchmark.
func TestHotPathDoesNotAllocate(t *testing.T) {
	pub, del := benchPublish(), benchDeliver()
	buf := make([]byte, 0, 2048)
	var outP wire.Publish
	var outD wire.Deliver
	var outPR wire.PublishRef
	var outDR wire.DeliverRef
	var cmd wire.TextCommand
	line := []byte("publish default_exchange default_key " + wiretest.SeedEnvelope)
	id, body := []byte(wiretest.SeedEnvelopeID), []byte(wiretest.SeedEnvelope)
	checks := map[string]func(){
		"publish": func() {
			buf = wire.AppendPublish(buf[:0], &pub)
			_, p, _, _ := wire.SplitFrame(buf, 0)
			_ = wire.DecodePublish(p, &outP)
		},
		"deliver": func() {
			buf = wire.AppendDeliver(buf[:0], &del)
			_, p, _, _ := wire.SplitFrame(buf, 0)
			_ = wire.DecodeDeliver(p, &outD)
		},
		"publish ref": func() {
			buf = wire.AppendPublishRef(buf[:0], &wire.PublishRef{Publish: pub, PrefixID: 9})
			_, p, _, _ := wire.SplitFrame(buf, 0)
			_ = wire.DecodePublishRef(p, &outPR)
		},
		"deliver ref": func() {
			buf = wire.AppendDeliverRef(buf[:0], &wire.DeliverRef{Deliver: del, PrefixID: 9})
			_, p, _, _ := wire.SplitFrame(buf, 0)
			_ = wire.DecodeDeliverRef(p, &outDR)
		},
		"joined publish and deliver": func() {
			buf = wire.AppendPublishJoined(buf[:0], &pub, id)
			buf = wire.AppendDeliverJoined(buf, &del, id)
		},
		"ack and confirm": func() {
			buf = wire.AppendAck(buf[:0], &wire.Ack{DeliveryTag: 7, Multiple: true})
			buf = wire.AppendConfirm(buf, &wire.Confirm{First: 1, Last: 9})
		},
		"text publish": func() { _ = wire.ParseCommandInto(line, &cmd) },
		"text push":    func() { buf = wire.AppendReplyMessage(buf[:0], id, body) },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", name, n)
		}
	}
}
