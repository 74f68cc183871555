package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Benchmarks for issue #11 (bounded work per command). Each reports the
// cost per unit of the command's own input (ns/consumer, ns/message,
// ns/entry) next to the state size, so that docs/performance.md can show
// the curves are flat in the state size.

// BenchmarkConsumeRegister registers n consumers on one connection: the
// cost of one more consumer must not grow with those already there.
func BenchmarkConsumeRegister(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("consumers=", n), func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := New(Config{NoDefaults: true, MaxConsumers: n})
				if err := c.DeclareQueue("q", QueueOptions{}); err != nil {
					b.Fatal(err)
				}
				c.Open(1, t0)
				b.StartTimer()
				start := time.Now()
				manyConsumers(b, c, 1, n, "q")
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/consumer")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkCloseConsumers closes a connection holding n consumers (half
// of them with one unacked delivery each) while another connection keeps
// 1,000 consumers on the same queues.
func BenchmarkCloseConsumers(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("consumers=", n), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := New(Config{NoDefaults: true, MaxConsumers: 2 * n})
				for _, q := range []string{"a", "b"} {
					if err := c.DeclareQueue(q, QueueOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				c.Open(1, t0)
				c.Open(2, t0)
				manyConsumers(b, c, 2, 1000, "a", "b")
				manyConsumers(b, c, 1, n, "a", "b")
				for j := 0; j < n/2; j++ {
					if _, _, err := c.Fetch(1, "a", t0); err != nil {
						b.Fatal(err)
					}
				}
				c.Drain()
				b.StartTimer()
				start := time.Now()
				c.Close(1, t0)
				for c.Closing() > 0 { // the teardown's later steps
					c.Tick(t0)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/consumer")
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/1e6, "ms/teardown")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkDeleteQueueUnacked deletes a queue holding n unacked copies
// (on one connection) while 1,000 other connections each hold a delivery
// of another queue.
func BenchmarkDeleteQueueUnacked(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		b.Run(fmt.Sprint("unacked=", n), func(b *testing.B) {
			c := New(Config{NoDefaults: true})
			must := func(err error) {
				if err != nil {
					b.Fatal(err)
				}
			}
			must(c.DeclareExchange("x", Direct))
			must(c.DeclareQueue("other", QueueOptions{}))
			must(c.Bind("x", "other", "other"))
			c.Open(1, t0)
			for conn := ConnID(2); conn <= 1001; conn++ {
				c.Open(conn, t0)
				if _, err := c.Consume(conn, ConsumeOptions{Queue: "other", Prefetch: 1}, t0); err != nil {
					b.Fatal(err)
				}
			}
			p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("other"), Body: []byte("b")}
			seq := uint64(0)
			publish := func() {
				seq++
				p.Seq = seq
				p.MessageID = fmt.Appendf(p.MessageID[:0], "m%d", seq)
				c.Publish(1, p, t0)
			}
			for i := 0; i < 1000; i++ {
				publish()
			}
			c.Drain()
			p.RoutingKey = []byte("q")
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				must(c.DeclareQueue("q", QueueOptions{}))
				must(c.Bind("x", "q", "q"))
				for j := 0; j < n; j++ {
					publish()
				}
				if _, err := c.Consume(1, ConsumeOptions{Queue: "q", Tag: "c", Prefetch: n}, t0); err != nil {
					b.Fatal(err)
				}
				c.Drain()
				b.StartTimer()
				start := time.Now()
				if got, err := c.DeleteQueue("q", t0); err != nil || got != n {
					b.Fatalf("DeleteQueue = %d, %v", got, err)
				}
				total += time.Since(start)
				c.Drain()
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/message")
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/1e3, "µs/delete")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkStats measures the summary, one page of 1,000 queues, and the
// full listing, as the number of queues grows.
func BenchmarkStats(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		c := New(Config{NoDefaults: true})
		for i := 0; i < n; i++ {
			if err := c.DeclareQueue(fmt.Sprintf("q%05d", (i*7919)%n), QueueOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("summary/queues=", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.StatsSummary()
			}
		})
		b.Run(fmt.Sprint("page100/queues=", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.StatsPage(fmt.Sprintf("q%05d", n/2), "", 100)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/entry")
		})
		b.Run(fmt.Sprint("full/queues=", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.Stats()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}

// BenchmarkDispatchFullConsumers: n consumers of one queue, all at their
// prefetch; one op is a publish (nobody has room, it stays ready) plus
// the ack of one delivery (that consumer takes it). The scan this
// replaced visited every full consumer on both.
func BenchmarkDispatchFullConsumers(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("consumers=", n), func(b *testing.B) {
			c, _ := fullConsumers(b, n)
			seq := uint64(n)
			next := uint64(n / 2) // consumer n/2-1's delivery tag
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				publishOne(b, c, 2, seq)
				if err := c.Ack(1, next, false, t0); err != nil {
					b.Fatal(err)
				}
				effs := c.Drain()
				if len(effs) != 2 || effs[1].Kind != EffectDeliver {
					b.Fatalf("effects %+v", effs)
				}
				next = effs[1].Delivery.Tag
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/publish+ack")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkCloseManyQueues closes a connection holding one unacked
// delivery in each of n queues (declared in descending name order): the
// requeue touches n queues, dispatched in name order.
func BenchmarkCloseManyQueues(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprint("queues=", n), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := New(Config{NoDefaults: true})
				c.Open(1, t0)
				c.Open(2, t0)
				if err := c.DeclareExchange("x", Direct); err != nil {
					b.Fatal(err)
				}
				p := &Publish{Exchange: []byte("x"), Body: []byte("b")}
				for j := n - 1; j >= 0; j-- {
					name := fmt.Sprintf("q%05d", j)
					if err := c.DeclareQueue(name, QueueOptions{}); err != nil {
						b.Fatal(err)
					}
					if err := c.Bind("x", name, name); err != nil {
						b.Fatal(err)
					}
					p.Seq++
					p.RoutingKey = []byte(name)
					p.MessageID = fmt.Appendf(p.MessageID[:0], "m%d", j)
					c.Publish(2, p, t0)
				}
				// Fetch in a scrambled order, so the touched list is too.
				for j := 0; j < n; j++ {
					if _, ok, err := c.Fetch(1, fmt.Sprintf("q%05d", (j*7919)%n), t0); err != nil || !ok {
						b.Fatal(ok, err)
					}
				}
				c.Drain()
				b.StartTimer()
				start := time.Now()
				c.Close(1, t0)
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/1e6, "ms/close")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkTeardownPerCall closes a connection holding n consumers (on two
// queues, prefetch 1) and n unacked deliveries, one per consumer, while
// another connection's consumer waits on both queues and takes every
// message back as it is requeued. It times every core call of the
// teardown (Close, then the Ticks a driver makes while NextDeadline says
// now) and reports the worst call: its teardown steps (Core.work), its
// room-set steps and its time, against the number of calls. With the
// per-call budget the worst call stays flat as n grows; only the number
// of calls grows. Time per call is also shown for the old one-shot Close
// by BenchmarkCloseConsumers (now Close plus its Ticks).
func BenchmarkTeardownPerCall(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("consumers=", n), func(b *testing.B) {
			var durs []time.Duration
			var total time.Duration
			var maxSteps, maxRoom uint64
			calls := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := New(Config{NoDefaults: true, MaxConsumers: 2 * n})
				for _, err := range []error{c.DeclareExchange("x", Direct), c.DeclareQueue("a", QueueOptions{}),
					c.DeclareQueue("b", QueueOptions{}), c.Bind("x", "a", "a"), c.Bind("x", "b", "b")} {
					if err != nil {
						b.Fatal(err)
					}
				}
				c.Open(1, t0)
				c.Open(2, t0)
				c.Open(3, t0)
				for j := 0; j < n; j++ {
					q := []string{"a", "b"}[j%2]
					if _, err := c.Consume(1, ConsumeOptions{Queue: q, Prefetch: 1}, t0); err != nil {
						b.Fatal(err)
					}
				}
				p := &Publish{Exchange: []byte("x"), Body: []byte("body")}
				for j := 0; j < n; j++ {
					p.Seq++
					p.RoutingKey = []byte([]string{"a", "b"}[j%2])
					p.MessageID = fmt.Appendf(p.MessageID[:0], "m%d", j)
					c.Publish(3, p, t0)
				}
				for _, q := range []string{"a", "b"} {
					if _, err := c.Consume(2, ConsumeOptions{Queue: q, Prefetch: 2 * n}, t0); err != nil {
						b.Fatal(err)
					}
				}
				c.Drain()
				b.StartTimer()
				for call := func() { c.Close(1, t0) }; ; call = func() { c.Tick(t0) } {
					w, rw := c.work, c.roomWork
					start := time.Now()
					call()
					d := time.Since(start)
					c.Drain()
					calls++
					total += d
					durs = append(durs, d)
					maxSteps = max(maxSteps, c.work-w)
					maxRoom = max(maxRoom, c.roomWork-rw)
					if c.Closing() == 0 {
						break
					}
				}
				b.StopTimer()
				if st, _ := c.Queue("a"); st.Unacked != n/2 || st.Ready != 0 {
					b.Fatalf("queue a after the teardown: %+v", st)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(maxSteps), "max-steps/call")
			b.ReportMetric(float64(maxRoom), "max-room-steps/call")
			// Wall time per call: on a loaded machine the maximum is mostly
			// the process being descheduled, so the median and p99 are
			// reported beside it.
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns/call")
			b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns/call")
			b.ReportMetric(float64(durs[len(durs)-1].Nanoseconds()), "max-ns/call")
			b.ReportMetric(float64(total.Nanoseconds())/float64(calls), "ns/call")
			b.ReportMetric(float64(calls)/float64(b.N), "calls")
			b.ReportMetric(0, "ns/op")
		})
	}
}
