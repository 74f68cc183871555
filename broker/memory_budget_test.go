package broker

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// TestMemoryUsageReturnsToBaseline walks messages with and without a shared
// prefix through fanout, dead-lettering, requeue on close, nack and ack:
// MemoryUsage rises by what each step holds, matches a recount at every step
// (the harness runs CheckInvariants, which recounts it), and returns to the
// baseline once everything is acked or discarded.
func TestMemoryUsageReturnsToBaseline(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: -1})
	h.exchange("x", Fanout)
	h.queue("dlq", QueueOptions{})
	h.queue("a", QueueOptions{DeadLetterQueue: "dlq", DeliveryLimit: 1})
	h.queue("b", QueueOptions{})
	h.bind("x", "a", "")
	h.bind("x", "b", "")
	h.open(1)
	h.open(2)
	base := h.c.MemoryUsage()
	if base <= 0 {
		t.Fatalf("an empty core with topology counts %d bytes, want its topology", base)
	}

	pre := NewPrefix(make([]byte, 1000))
	const n = 20
	for i := range n {
		h.seq++
		var p *Prefix
		if i%2 == 0 {
			p = pre
		}
		id := fmt.Sprintf("m-%02d", i)
		h.c.Publish(1, &Publish{Seq: h.seq, Exchange: []byte("x"), MessageID: []byte(id), Prefix: p, Body: make([]byte, 100)}, h.now)
		h.c.Drain()
		h.check()
	}
	// 2 copies each (fanout to a and b), the prefix once.
	perCopy := int64((len("m-00")+100)*5/4 + MessageOverhead)
	want := base + 2*n*perCopy + 1000
	if got := h.c.MemoryUsage(); got != want {
		t.Fatalf("after %d fanout publishes: usage %d, want %d (base %d)", n, got, want, base)
	}
	if m := h.c.Memory(); m.Messages != 2*n || m.PrefixBytes != 1000 || m.Total != want {
		t.Fatalf("breakdown %+v", m)
	}

	// Consume a on conn 2 and close it: the deliveries requeue (delivery
	// limit 1: to the dead-letter queue). Usage does not change: the
	// copies moved, none left.
	h.consume(2, ConsumeOptions{Queue: "a", Prefetch: n})
	h.close(2)
	if got := h.c.MemoryUsage(); got != want-ConnectionOverhead {
		t.Fatalf("after dead-lettering a: usage %d, want %d", got, want-ConnectionOverhead)
	}
	if st := h.stats("dlq"); st.Ready != n {
		t.Fatalf("dlq holds %d, want %d", st.Ready, n)
	}

	// Drain everything on conn 1, nacking half of b once first.
	for _, q := range []string{"b", "dlq"} {
		for {
			d, ok := h.fetch(1, q)
			if !ok {
				break
			}
			if q == "b" && !d.Redelivered && d.Tag%2 == 0 {
				h.nack(1, d.Tag, false, true)
				continue
			}
			h.ack(1, d.Tag, false)
		}
	}
	if got := h.c.MemoryUsage(); got != base-ConnectionOverhead {
		t.Fatalf("after acking everything: usage %d, want the baseline %d", got, base-ConnectionOverhead)
	}
	if m := h.c.Memory(); m.Messages != 0 || m.PrefixBytes != 0 || m.MessageBytes != 0 {
		t.Fatalf("after acking everything: %+v", m)
	}
}

// TestMemoryUsageCountsDedupAndDeletes: remembered ids count until they
// expire; deleting a queue releases its messages.
func TestMemoryUsageCountsDedupAndDeletes(t *testing.T) {
	h := newHarness(t, Config{DedupMaxIDs: 5})
	h.topology("q")
	h.open(1)
	base := h.c.MemoryUsage()
	for i := range 8 {
		h.mustConfirm(1, "x", "q", strconv.Itoa(i), "body")
	}
	if m := h.c.Memory(); m.DedupBytes != 5*DedupEntryOverhead {
		t.Fatalf("dedup bytes %d, want 5 ids (the window's limit)", m.DedupBytes)
	}
	if _, err := h.c.DeleteQueue("q", h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	want := base - QueueOverhead - BindingOverhead + 5*DedupEntryOverhead
	if got := h.c.MemoryUsage(); got != want {
		t.Fatalf("after deleting the queue: %d, want %d", got, want)
	}
}

// TestMemoryUsageMatchesHeap compares the estimate with the heap that
// queued messages really take (runtime.MemStats after a GC): the estimate
// must not be below the heap by more than a few percent (the budget would
// let the process grow past it) nor wildly above it (the alarm would fire
// early). It reports both, for docs/performance.md.
func TestMemoryUsageMatchesHeap(t *testing.T) {
	for _, size := range []int{64, 512, 4096, 64 << 10} {
		n := min(100_000, (64<<20)/(size+300))
		before := heapInUse()
		c := New(Config{NoDefaults: true})
		mustNil(c.DeclareExchange("x", Direct))
		mustNil(c.DeclareQueue("q", QueueOptions{}))
		mustNil(c.Bind("x", "q", "k"))
		c.Open(1, t0)
		p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("k"), Body: make([]byte, size)}
		id := make([]byte, 0, 32)
		for i := range n {
			id = strconv.AppendUint(append(id[:0], "queued-"...), uint64(i), 10)
			p.Seq, p.MessageID = uint64(i+1), id
			c.Publish(1, p, t0)
			c.Drain()
		}
		heap := int64(heapInUse()) - int64(before)
		est := c.MemoryUsage()
		runtime.KeepAlive(c)
		t.Logf("%6d x %6d-byte messages: heap %7.1f MiB, estimate %7.1f MiB (%.2fx)", n, size,
			float64(heap)/(1<<20), float64(est)/(1<<20), float64(est)/float64(heap))
		if float64(est) < 0.9*float64(heap) || float64(est) > 2*float64(heap) {
			t.Errorf("%d-byte messages: estimate %d bytes for a heap of %d: off by more than the allowed -10%%..+100%%", size, est, heap)
		}
	}
}
