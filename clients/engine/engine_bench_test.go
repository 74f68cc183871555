package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// BenchmarkPublisherEngine measures the engine alone per message: Add, Poll
// and a range confirm per window of 256, as over a healthy link.
func BenchmarkPublisherEngine(b *testing.B) {
	p := NewPublisher(PublisherConfig{Window: 256})
	p.Connected(t0)
	body := make([]byte, 512)
	ids := make([]string, 256)
	for i := range ids {
		ids[i] = "m-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(256, b.N-i)
		for j := range n {
			if err := p.Add(Message{ID: ids[j], Exchange: "ex", RoutingKey: "rk", Body: body}); err != nil {
				b.Fatal(err)
			}
		}
		fs := p.Poll(t0)
		p.HandleConfirm(wire.Confirm{First: fs[0].Seq, Last: fs[len(fs)-1].Seq})
		if len(p.Resolutions()) != n {
			b.Fatal("not every message resolved")
		}
		i += n
	}
}

// BenchmarkConsumerEngine measures the engine alone per delivery: Handle,
// Settle(Stored) and Poll once per batch of 256 (one Multiple ack).
func BenchmarkConsumerEngine(b *testing.B) {
	c := NewConsumer(ConsumerConfig{Prefetch: 256, Seen: SeenFunc(func(string) bool { return false })})
	c.Connected()
	ids := make([][]byte, 256)
	for i := range ids {
		ids[i] = []byte("m-" + strconv.Itoa(i))
	}
	refs := make([]Ref, 0, 256)
	d := wire.Deliver{Body: make([]byte, 512)}
	tag := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(256, b.N-i)
		refs = refs[:0]
		for j := range n {
			tag++
			d.DeliveryTag, d.MessageID = tag, ids[j]
			ref, dec := c.Handle(&d)
			if dec != Process {
				b.Fatalf("decision %v", dec)
			}
			refs = append(refs, ref)
		}
		for _, r := range refs {
			if err := c.Settle(r, Stored); err != nil {
				b.Fatal(err)
			}
		}
		if out := c.Poll(); len(out) != 1 {
			b.Fatalf("%d settlement frames for one batch", len(out))
		}
		i += n
	}
}

// BenchmarkPublisherEngineCopy is the networked client's use of the
// engine per message: AddCopy (the caller reuses its body), Poll with a
// clock that moves (each send schedules a confirm deadline), one confirm
// per message and the resolution collected, with 256 messages in flight.
func BenchmarkPublisherEngineCopy(b *testing.B) {
	const window = 256
	p := NewPublisher(PublisherConfig{Window: window})
	p.Connected(t0)
	body := make([]byte, 512)
	ids := make([]string, 4*window)
	for i := range ids {
		ids[i] = "m-" + strconv.Itoa(i)
	}
	var rs []Resolution
	now := t0
	var last, confirmed uint64 // sequence numbers: the last sent, the last confirmed
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.AddCopy(Message{ID: ids[i%len(ids)], Exchange: "ex", RoutingKey: "rk", Body: body}); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Microsecond)
		for _, f := range p.Poll(now) {
			last = f.Seq
		}
		if last-confirmed == window { // the oldest is confirmed once the window is full
			confirmed++
			p.HandleConfirm(wire.Confirm{First: confirmed, Last: confirmed})
			rs = p.AppendResolutions(rs[:0])
		}
	}
}
