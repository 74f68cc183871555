package broker

import (
	"fmt"
	"strings"
	"testing"
)

// TestDeliveriesStopAtTheOutboundBound: a consumer whose connection does not
// write (its driver reports nothing written) gets at most its outbound
// bound plus one message, whatever its prefetch; the queue's other consumer
// gets the rest; reporting the output written resumes it.
func TestDeliveriesStopAtTheOutboundBound(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1) // the slow consumer
	h.open(2) // another consumer of the same queue
	h.open(3) // the publisher
	const limit = 2000
	h.c.SetOutboundLimit(1, limit)
	if _, err := h.c.Consume(1, ConsumeOptions{Queue: "q", Prefetch: 1_000_000}, h.now); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("b", 512)
	per := 0
	for i := range 10 {
		for _, e := range h.publish(3, "x", "q", fmt.Sprint("m", i), body) {
			if e.Kind == EffectDeliver && e.Conn == 1 {
				per++
			}
		}
	}
	// 512 + 64 bytes each: the bound is reached by the 4th.
	if per != 4 {
		t.Fatalf("the non-writing connection got %d deliveries, want 4 (bound %d bytes)", per, limit)
	}
	h.check()
	if got := h.stats("q").Ready; got != 6 {
		t.Fatalf("%d ready, want 6 held back for others", got)
	}
	// Another consumer takes what the slow one cannot.
	_, ds := h.consume(2, ConsumeOptions{Queue: "q", Prefetch: 6})
	if len(ds) != 6 {
		t.Fatalf("the other consumer got %d, want the 6 held back", len(ds))
	}
	// The other consumer is full now (prefetch 6): new messages wait.
	for i := range 10 {
		h.publish(3, "x", "q", fmt.Sprint("n", i), body)
	}
	// The slow connection writes its output: it gets pushes again, up to
	// the bound again.
	before := h.stats("q").Delivered
	h.c.Writable(1, 0, h.now)
	got := 0
	for _, e := range h.c.Drain() {
		if e.Kind == EffectDeliver && e.Conn == 1 {
			got++
		}
	}
	if got != 4 || h.stats("q").Delivered-before != uint64(got) {
		t.Fatalf("after the output drained the connection got %d deliveries", got)
	}
	h.check()
}
