package broker

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

// benchPublishDeliverAck pushes b.N messages of bodySize bytes through one
// exchange into `queues` queues, each with one consumer, acking every
// delivery at once: the steady state of a healthy broker.
func benchPublishDeliverAck(b *testing.B, bodySize, queues int) {
	c := New(Config{NoDefaults: true})
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	typ := Direct
	if queues > 1 {
		typ = Fanout
	}
	must(c.DeclareExchange("x", typ))
	now := t0
	c.Open(1, now)
	c.Open(2, now)
	for i := 0; i < queues; i++ {
		q := fmt.Sprint("q", i)
		must(c.DeclareQueue(q, QueueOptions{}))
		must(c.Bind("x", q, "k"))
		if _, err := c.Consume(2, ConsumeOptions{Queue: q, Prefetch: 1}, now); err != nil {
			b.Fatal(err)
		}
	}
	p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("k"), Body: make([]byte, bodySize)}
	idBuf := make([]byte, 0, 32)
	b.SetBytes(int64(bodySize))
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idBuf = strconv.AppendUint(append(idBuf[:0], "msg-"...), uint64(i), 10)
		p.Seq = uint64(i + 1)
		p.MessageID = idBuf
		c.Publish(1, p, now)
		effs := c.Drain()
		if len(effs) != 1+queues || effs[0].Kind != EffectConfirm {
			b.Fatalf("effects %s", describe(effs))
		}
		for _, e := range effs[1:] {
			if err := c.Ack(2, e.Delivery.Tag, false, now); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkPublishDeliverAck512(b *testing.B)         { benchPublishDeliverAck(b, 512, 1) }
func BenchmarkPublishDeliverAck512Fanout10(b *testing.B) { benchPublishDeliverAck(b, 512, 10) }

// BenchmarkPublishDeliverAck512NoDedup isolates the cost of the dedup
// window (one map insert and one eviction per message at steady state).
func BenchmarkPublishDeliverAck512NoDedup(b *testing.B) {
	c := New(Config{DedupWindow: -1})
	c.Open(1, t0)
	if _, err := c.Consume(1, ConsumeOptions{Queue: DefaultQueue}, t0); err != nil {
		b.Fatal(err)
	}
	p := &Publish{Exchange: []byte(DefaultExchange), RoutingKey: []byte(DefaultRoutingKey), MessageID: []byte("same-id"), Body: make([]byte, 512)}
	b.SetBytes(512)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Publish(1, p, t0)
		effs := c.Drain()
		if err := c.Ack(1, effs[1].Delivery.Tag, false, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishDeliverAckBatch acks with multiple=true once per 100
// deliveries, as a pipelined consumer does, with an ack timeout set so the
// deadline queue is exercised too.
func BenchmarkPublishDeliverAckBatch(b *testing.B) {
	c := xqk(b, Config{DefaultAckTimeout: 30 * time.Second, NoDefaults: true})
	if _, err := c.Consume(1, ConsumeOptions{Queue: "q", Prefetch: 256}, t0); err != nil {
		b.Fatal(err)
	}
	p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("k"), Body: make([]byte, 512)}
	idBuf := make([]byte, 0, 32)
	now := t0
	b.SetBytes(512)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	var last uint64
	for i := 0; i < b.N; i++ {
		idBuf = strconv.AppendUint(idBuf[:0], uint64(i), 10)
		p.MessageID = idBuf
		c.Publish(1, p, now)
		for _, e := range c.Drain() {
			if e.Kind == EffectDeliver {
				last = e.Delivery.Tag
			}
		}
		if i%100 == 99 {
			if err := c.Ack(1, last, true, now); err != nil {
				b.Fatal(err)
			}
		}
		if i%1000 == 0 {
			now = now.Add(time.Millisecond)
			c.Tick(now)
		}
	}
}

// reportCPU starts measuring process CPU time; the returned function
// reports it per op as "cpu-ns/op".
func reportCPU(b *testing.B) func() {
	m := testutil.StartCPUMeter()
	return func() { m.Report(b, b.N) }
}

// benchRoute measures routing alone: one key through an exchange with many
// bindings.
func benchRoute(b *testing.B, typ ExchangeType, bindings int, pattern func(i int) string, key string, wantTargets int) {
	ex := newExchange("x", typ)
	for i := 0; i < bindings; i++ {
		q := newQueue(fmt.Sprint("q", i), QueueOptions{}, 0, nil)
		ex.bind(q, pattern(i), "")
	}
	var r router
	k := []byte(key)
	r.reset()
	ex.route(k, &r)
	if len(r.targets) != wantTargets {
		b.Fatalf("key %q routes to %d queues, want %d", key, len(r.targets), wantTargets)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.reset()
		ex.route(k, &r)
	}
}

func BenchmarkRouteDirect10kBindings(b *testing.B) {
	benchRoute(b, Direct, 10_000, func(i int) string { return fmt.Sprint("key.", i) }, "key.5000", 1)
}

func BenchmarkRouteFanout100(b *testing.B) {
	benchRoute(b, Fanout, 100, func(int) string { return "" }, "any", 100)
}

// BenchmarkRouteTopic10kPatterns: 10,000 patterns of the shape
// "region.<n>.*.<level>" plus a few wildcards; a key matches 3 of them.
func BenchmarkRouteTopic10kPatterns(b *testing.B) {
	pattern := func(i int) string {
		switch i {
		case 0:
			return "#"
		case 1:
			return "region.#.error"
		}
		return fmt.Sprintf("region.%d.*.%s", i, []string{"info", "warn", "error"}[i%3])
	}
	benchRoute(b, Topic, 10_000, pattern, "region.5000.host7.error", 3)
}

func BenchmarkRouteTopicDeepHash(b *testing.B) {
	// "#" in the middle makes the matcher try every split of the key.
	pattern := func(i int) string { return fmt.Sprintf("a.#.b%d.#.z", i) }
	benchRoute(b, Topic, 100, pattern, "a.x.x.x.x.x.b50.y.y.y.y.y.z", 1)
}

// reportPerPublish reports wall time and allocated bytes per publish as
// "ns/publish" and "B/publish" (the bytes include every allocation of the
// loop, e.g. a matcher's memo).
func reportPerPublish(b *testing.B) func() {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	return func() {
		elapsed := time.Since(start)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/publish")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/publish")
	}
}

// BenchmarkRouteTopicHostile is the worst case of issue #11 as bindings
// grow: N bindings of 253-byte patterns of 62 "#.*" or "*.#" pairs (the
// order varying per binding) and a distinct literal, and 128-word keys that
// make every "#" try every split; one binding matches. Each publish goes
// through the core (route, store, deliver); the consumer acks every 100
// messages at once. states/publish is the matcher's work counter.
func BenchmarkRouteTopicHostile(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint("bindings=", n), func(b *testing.B) {
			c := New(Config{NoDefaults: true, MaxBindings: n, MaxQueues: n})
			if err := c.DeclareExchange("t", Topic); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				q := fmt.Sprintf("q%06d", i)
				if err := c.DeclareQueue(q, QueueOptions{}); err != nil {
					b.Fatal(err)
				}
				if err := c.Bind("t", q, hostilePattern(i)); err != nil {
					b.Fatal(err)
				}
			}
			target := min(7, n-1)
			c.Open(1, t0)
			if _, err := c.Consume(1, ConsumeOptions{Queue: fmt.Sprintf("q%06d", target)}, t0); err != nil {
				b.Fatal(err)
			}
			p := &Publish{Exchange: []byte("t"), RoutingKey: []byte(hostileKey(target)), Body: make([]byte, 64)}
			idBuf := make([]byte, 0, 32)
			var last uint64
			publish := func(i int) {
				idBuf = strconv.AppendUint(idBuf[:0], uint64(i), 10)
				p.Seq, p.MessageID = uint64(i+1), idBuf
				c.Publish(1, p, t0)
				effs := c.Drain()
				if len(effs) != 2 || effs[0].Kind != EffectConfirm || effs[1].Kind != EffectDeliver {
					b.Fatalf("effects %s", describe(effs))
				}
				last = effs[1].Delivery.Tag
				if i%100 == 99 {
					if err := c.Ack(1, last, true, t0); err != nil {
						b.Fatal(err)
					}
				}
			}
			publish(-1)
			b.ReportAllocs()
			report := reportPerPublish(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				publish(i)
			}
			b.StopTimer()
			report()
			b.ReportMetric(float64(c.router.walk.visits), "states/publish")
		})
	}
}

// BenchmarkRouteTopicStarMix is the shape normalisation cannot shrink:
// N distinct patterns "#" + 62 words, each "a" or "*" (drawn from the
// binding's number), + a distinct literal, against a key of 126 "a" words.
// Nearly every trie node below the "#" stays active at every later word,
// so the work grows with the total size of the patterns: this curve shows
// the (words+1) × nodes bound being approached, not a flat one. The core's
// Bind refuses such topologies past MaxTopicStates (from the fourth of
// these bindings); the benchmark binds on the exchange directly to show
// the unbudgeted curve.
func BenchmarkRouteTopicStarMix(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1_000} {
		b.Run(fmt.Sprint("bindings=", n), func(b *testing.B) {
			ex := newExchange("t", Topic)
			for i := 0; i < n; i++ {
				p := strings.Replace(hostilePattern(i), "#.*.", "a.", -1)
				p = "#." + strings.Replace(p, "*.#.", "*.", -1)
				ex.bind(newQueue(fmt.Sprintf("q%06d", i), QueueOptions{}, 0, nil), p, "")
			}
			target := min(7, n-1)
			key := []byte(strings.Repeat("a.", 126) + hostileLiteral(target))
			var r router
			r.reset()
			ex.route(key, &r)
			if len(r.targets) != 1 {
				b.Fatalf("key routes to %d queues, want 1", len(r.targets))
			}
			b.ReportAllocs()
			report := reportPerPublish(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.reset()
				ex.route(key, &r)
			}
			b.StopTimer()
			report()
			b.ReportMetric(float64(r.walk.visits), "states/publish")
			b.ReportMetric(float64(countTopicNodes(&ex.topic.root)), "trie-nodes")
		})
	}
}

// BenchmarkPublishFanout10kDescending: a fanout exchange bound to 10,000
// queues in descending name order (issue #11: the targets used to be
// insertion-sorted on every publish). Each iteration publishes once, drains
// the 10,000 deliveries (one consumer per queue, all on one connection) and
// settles them with one multiple ack: the cost is the fan-out's.
func BenchmarkPublishFanout10kDescending(b *testing.B) {
	const n = 10_000
	c := New(Config{NoDefaults: true})
	if err := c.DeclareExchange("f", Fanout); err != nil {
		b.Fatal(err)
	}
	c.Open(1, t0)
	for i := n - 1; i >= 0; i-- {
		q := fmt.Sprintf("q%05d", i)
		if err := c.DeclareQueue(q, QueueOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := c.Bind("f", q, ""); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Consume(1, ConsumeOptions{Queue: q, Prefetch: 1}, t0); err != nil {
			b.Fatal(err)
		}
	}
	p := &Publish{Exchange: []byte("f"), Body: make([]byte, 64)}
	idBuf := make([]byte, 0, 32)
	publish := func(i int) {
		idBuf = strconv.AppendUint(idBuf[:0], uint64(i), 10)
		p.Seq, p.MessageID = uint64(i+1), idBuf
		c.Publish(1, p, t0)
		effs := c.Drain()
		if len(effs) != 1+n || effs[0].Kind != EffectConfirm {
			b.Fatalf("%d effects, first %s", len(effs), describe(effs[:1]))
		}
		if effs[1].Delivery.Queue != "q00000" || effs[n].Delivery.Queue != fmt.Sprintf("q%05d", n-1) {
			b.Fatalf("deliveries not in queue name order: %s first, %s last", effs[1].Delivery.Queue, effs[n].Delivery.Queue)
		}
		if err := c.Ack(1, effs[n].Delivery.Tag, true, t0); err != nil {
			b.Fatal(err)
		}
	}
	publish(-1)
	b.ReportAllocs()
	defer reportPerPublish(b)()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		publish(i)
	}
}

// benchPublishFullWindow publishes into a full dedup window (the default
// 250,000 ids, as on a broker that has run for a while), acking in batches
// of 16 like a pipelined consumer: each publish looks its id up in, and
// evicts the oldest id from, a table far larger than the caches.
func benchPublishFullWindow(b *testing.B, cfg Config) {
	const batch = 16
	c := xqk(b, cfg)
	if _, err := c.Consume(1, ConsumeOptions{Queue: "q", Prefetch: 256}, t0); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 512)
	ids := make([][]byte, batch)
	for i := range ids {
		ids[i] = make([]byte, 0, 40)
	}
	ex, rk := []byte("x"), []byte("k")
	p := &Publish{Exchange: ex, RoutingKey: rk, Body: body}
	var seq uint64
	run := func(n int) {
		for i := 0; i < n; i += batch {
			for j := range ids {
				ids[j] = strconv.AppendUint(append(ids[j][:0], "userbench-m5x2k1-0-"...), seq+uint64(j), 10)
			}
			var last uint64
			for j := range ids {
				seq++
				p.Seq, p.MessageID = seq, ids[j]
				c.Publish(1, p, t0)
				for _, e := range c.Drain() {
					if e.Kind == EffectDeliver {
						last = e.Delivery.Tag
					}
				}
			}
			if err := c.Ack(1, last, true, t0); err != nil {
				b.Fatal(err)
			}
		}
	}
	run(DefaultDedupMaxIDs) // fill the window
	if got := c.dedup.len(); got != DefaultDedupMaxIDs && cfg.DedupWindow >= 0 {
		b.Fatalf("dedup window holds %d ids, want it full (%d)", got, DefaultDedupMaxIDs)
	}
	b.SetBytes(512)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.ResetTimer()
	run(b.N)
}

func BenchmarkPublishFullDedupWindow(b *testing.B) {
	benchPublishFullWindow(b, Config{NoDefaults: true})
}

// BenchmarkPublishNoDedupBatched is the same traffic without a dedup
// window: the difference is what remembering ids costs.
func BenchmarkPublishNoDedupBatched(b *testing.B) {
	benchPublishFullWindow(b, Config{NoDefaults: true, DedupWindow: -1})
}
