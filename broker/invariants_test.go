package broker

import (
	"strings"
	"testing"
)

// TestCheckInvariantsDetectsCorruption corrupts one piece of bookkeeping at
// a time and expects CheckInvariants to name it.
func TestCheckInvariantsDetectsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(c *Core)
		want    string
	}{
		{"queue unacked count", func(c *Core) { c.queues["q"].unacked++ }, "unacked count"},
		{"queue bytes", func(c *Core) { c.queues["q"].bytes += 3 }, "byte count"},
		{"connection live count", func(c *Core) { c.conns[1].live++ }, "live count"},
		{"consumer count", func(c *Core) { c.nConsumers++ }, "consumer count"},
		{"binding count", func(c *Core) { c.nBindings-- }, "binding count"},
		{"consumer unacked", func(c *Core) { c.queues["q"].consumers.head.unacked-- }, "consumer"},
		{"ready message state", func(c *Core) { c.queues["q"].ready.at(0).state = stateLimbo }, "ready slot"},
		{"max length", func(c *Core) { c.queues["q"].opts.MaxLength = 1 }, "max length"},
		{"dedup set", func(c *Core) { c.dedup.of("").ids.insert(dedupKey{1, 3}) }, "dedup"},
		{"user usage", func(c *Core) { c.use("mallory").Queues++ }, "usage of user"},
		{"dead-letter users", func(c *Core) { c.queues["q"].dlqUsers = 1 }, "dead-letter"},
		{"work conserving", func(c *Core) { c.queues["q"].consumers.head.prefetch = 5 }, "has room"},
		{"room set", func(c *Core) {
			l := &c.queues["q"].consumers
			l.room.insert(l.head, &c.roomWork) // full at its prefetch: not a member
		}, "room set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.topology("q")
			h.open(1)
			h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 1})
			seedQueue(h, "q", "m1", "m2", "m3")
			if err := h.c.CheckInvariants(); err != nil {
				t.Fatalf("healthy core reported %v", err)
			}
			tc.corrupt(h.c)
			err := h.c.CheckInvariants()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestBrokenInvariantsPanic: internal contradictions are not refusals.
func TestBrokenInvariantsPanic(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	seedQueue(h, "q", "m1")
	ready := h.c.queues["q"].ready.at(0)
	mustPanic("releasing a ready message", func() { h.c.release(ready) })
	mustPanic("recording an id twice", func() {
		w := h.c.dedup.of("")
		w.record(keyOf(h.c.dedup.material("", []byte("x"), []byte("m1"))), h.now)
	})
	mustPanic("delivering an unacked message", func() {
		d, _ := h.fetch(1, "q")
		m := h.c.conns[1].find(d.Tag)
		h.c.deliver(m, h.c.conns[1], nil, 0)
	})
}
