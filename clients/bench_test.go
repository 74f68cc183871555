package clients

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

// BenchmarkPublishConfirm publishes 512-byte messages with confirms through
// the library to an in-process broker over loopback TCP, window 256, and
// waits for every confirm.
func BenchmarkPublishConfirm(b *testing.B) {
	br := startBroker(b)
	c := dial(b, br.addr)
	ctx := context.Background()
	setupQueue(b, c, "q", QueueOptions{})
	p, err := c.NewPublisher(PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 256})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 512)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "m-" + strconv.Itoa(i)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	start := time.Now()
	var last *Confirm
	for i := 0; i < b.N; i++ {
		f, err := p.Publish(ctx, ids[i], body)
		if err != nil {
			b.Fatal(err)
		}
		last = f
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu.Report(b, b.N)
	if err := last.Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkConsumeAck consumes b.N 512-byte messages already in the queue
// through the library (prefetch 256, a handler that returns nil at once)
// until the broker has every ack.
func BenchmarkConsumeAck(b *testing.B) {
	benchConsume(b, false)
}

// BenchmarkConsumeAckBatch is BenchmarkConsumeAck with a BatchHandler, the
// group-commit shape a durable receiver uses.
func BenchmarkConsumeAckBatch(b *testing.B) {
	benchConsume(b, true)
}

func benchConsume(b *testing.B, batch bool) {
	br := startBroker(b)
	c := dial(b, br.addr)
	ctx := context.Background()
	setupQueue(b, c, "q", QueueOptions{})
	p, err := c.NewPublisher(PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 256})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 512)
	for i := 0; i < b.N; i++ {
		if _, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), body); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	done := make(chan struct{})
	o := ConsumerOptions{Queue: "q", Prefetch: 256}
	if batch {
		o.BatchHandler = func(_ context.Context, ds []*Delivery) []error {
			if handled.Add(int64(len(ds))) == int64(b.N) {
				close(done)
			}
			return make([]error, len(ds))
		}
	} else {
		o.Handler = func(context.Context, *Delivery) error {
			if handled.Add(1) == int64(b.N) {
				close(done)
			}
			return nil
		}
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	start := time.Now()
	if _, err := c.Consume(ctx, o); err != nil {
		b.Fatal(err)
	}
	<-done
	// Wait for the broker to hold the last acks, so acking is measured too.
	deadline := time.Now().Add(time.Minute)
	for br.queue("q").Acked < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d acked", br.queue("q").Acked, b.N)
		}
		time.Sleep(100 * time.Microsecond) // polling the broker's counter
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu.Report(b, b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkPublishConsumeAck is the reliable end-to-end path of issue #5
// through the library: one publisher (window 1,024) publishing 512-byte
// messages with confirms while one consumer on its own connection
// (prefetch 2,048, a Handler that returns nil) acks them; b.N counts
// messages both confirmed and acked.
func BenchmarkPublishConsumeAck(b *testing.B) {
	br := startBroker(b)
	pc := dial(b, br.addr)
	cc := dial(b, br.addr)
	ctx := context.Background()
	setupQueue(b, pc, "q", QueueOptions{})
	p, err := pc.NewPublisher(PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 1024})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 512)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "e2e-" + strconv.Itoa(i)
	}
	var handled atomic.Int64
	done := make(chan struct{})
	o := ConsumerOptions{Queue: "q", Prefetch: 2048, Handler: func(context.Context, *Delivery) error {
		if handled.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	}}
	if _, err := cc.Consume(ctx, o); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	start := time.Now()
	var last *Confirm
	for i := 0; i < b.N; i++ {
		f, err := p.Publish(ctx, ids[i], body)
		if err != nil {
			b.Fatal(err)
		}
		last = f
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	deadline := time.Now().Add(time.Minute)
	for br.queue("q").Acked < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d acked", br.queue("q").Acked, b.N)
		}
		time.Sleep(100 * time.Microsecond) // polling the broker's counter
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu.Report(b, b.N)
	if err := last.Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkPublishConfirmLatency publishes one 512-byte message at a time
// and waits for its confirm before the next, so each op is one full round
// trip through the library, the broker and back with nothing to batch: the
// low-rate latency of issue #5 (p99 at 5,000 msgs/s). It reports the
// median and the 99th percentile of the round trips.
func BenchmarkPublishConfirmLatency(b *testing.B) {
	br := startBroker(b)
	c := dial(b, br.addr)
	ctx := context.Background()
	setupQueue(b, c, "q", QueueOptions{})
	p, err := c.NewPublisher(PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 512)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "lat-" + strconv.Itoa(i)
	}
	rtts := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f, err := p.Publish(ctx, ids[i], body)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		rtts[i] = time.Since(start)
	}
	b.StopTimer()
	cpu.Report(b, b.N)
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
}
