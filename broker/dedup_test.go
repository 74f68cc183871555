package broker

import (
	"fmt"
	"testing"
	"time"
)

func mustDuplicate(t *testing.T, h *harness, id string) {
	t.Helper()
	effs := h.publish(1, "x", "q", id, "again")
	if len(effs) != 1 || effs[0].Kind != EffectConfirm || !effs[0].Duplicate {
		t.Fatalf("publish of %s: %s, want one duplicate confirm", id, describe(effs))
	}
}

func TestDedupWithinWindow(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: time.Minute})
	h.topology("q")
	h.open(1)
	h.mustConfirm(1, "x", "q", "m1", "first")
	h.advance(59 * time.Second)
	mustDuplicate(t, h, "m1")
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m1"}) {
		t.Fatalf("queue holds %v, want [m1] once", got)
	}
	if d, _ := h.fetch(1, "q"); string(d.Body) != "first" {
		t.Fatalf("duplicate replaced the body: %q", d.Body)
	}
	s := h.c.Stats()
	if s.Duplicates != 1 || h.stats("q").Duplicates != 1 || h.stats("q").Published != 1 {
		t.Fatalf("counters: global dup %d, queue %+v", s.Duplicates, h.stats("q"))
	}
}

func TestDedupAfterAckStillDuplicate(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.mustConfirm(1, "x", "q", "m1", "")
	d, _ := h.fetch(1, "q")
	h.ack(1, d.Tag, false)
	mustDuplicate(t, h, "m1")
	// Even once its exchange is gone, a retry of an accepted message is
	// confirmed: the publisher must converge.
	if err := h.c.DeleteExchange("x"); err != nil {
		t.Fatal(err)
	}
	mustDuplicate(t, h, "m1")
}

func TestDedupExpiry(t *testing.T) {
	for _, viaTick := range []bool{true, false} {
		t.Run(fmt.Sprintf("tick=%v", viaTick), func(t *testing.T) {
			h := newHarness(t, Config{DedupWindow: time.Minute})
			h.topology("q")
			h.open(1)
			h.mustConfirm(1, "x", "q", "m1", "")
			at, ok := h.c.NextDeadline()
			if !ok || !at.Equal(t0.Add(time.Minute)) {
				t.Fatalf("NextDeadline = %v %v, want the dedup expiry %v", at, ok, t0.Add(time.Minute))
			}
			h.advance(time.Minute) // exactly the window: expired
			if viaTick {
				h.tick()
				if got := h.c.Stats().DedupIDs; got != 0 {
					t.Fatalf("dedup ids after tick %d, want 0", got)
				}
				if _, ok := h.c.NextDeadline(); ok {
					t.Fatal("NextDeadline still reports a deadline")
				}
			}
			h.mustConfirm(1, "x", "q", "m1", "")
			if got := h.readyIDs("q"); !equalStrings(got, []string{"m1", "m1"}) {
				t.Fatalf("queue %v, want m1 twice after the window passed", got)
			}
		})
	}
}

func TestDedupMaxIDsForgetsOldest(t *testing.T) {
	h := newHarness(t, Config{DedupMaxIDs: 3})
	h.topology("q")
	h.open(1)
	for i := 1; i <= 4; i++ {
		h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "")
	}
	if got := h.c.Stats().DedupIDs; got != 3 {
		t.Fatalf("dedup ids %d, want the bound 3", got)
	}
	mustDuplicate(t, h, "m2")
	mustDuplicate(t, h, "m4")
	h.mustConfirm(1, "x", "q", "m1", "") // forgotten first
}

func TestDedupDisabled(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative window": {DedupWindow: -1},
		"mutation":        {Mutations: Mutations{NoDedup: true}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cfg)
			h.topology("q")
			h.open(1)
			h.mustConfirm(1, "x", "q", "m1", "")
			h.mustConfirm(1, "x", "q", "m1", "")
			if got := h.readyIDs("q"); len(got) != 2 {
				t.Fatalf("queue %v, want the id twice", got)
			}
			if _, ok := h.c.NextDeadline(); ok {
				t.Fatal("disabled dedup reports a deadline")
			}
		})
	}
}

func TestDedupWindowFIFOCompacts(t *testing.T) {
	d := newDedupWindow(time.Second, 10)
	now := t0
	for i := 0; i < 5000; i++ {
		id := fmt.Sprint(i)
		seen, k := d.seen([]byte(id), now)
		if seen {
			t.Fatalf("id %s seen before it was recorded", id)
		}
		d.record(k, now)
		now = now.Add(time.Millisecond)
	}
	if d.len() != 10 || len(d.fifo)-d.head != 10 {
		t.Fatalf("window holds %d ids, FIFO %d; want 10", d.len(), len(d.fifo)-d.head)
	}
	if cap(d.fifo) > 4096 {
		t.Fatalf("FIFO capacity %d grew without bound", cap(d.fifo))
	}
	if s, _ := d.seen([]byte("4999"), now); !s {
		t.Fatal("newest id forgotten")
	}
	if s, _ := d.seen([]byte("4989"), now); s {
		t.Fatal("wrong ids remembered")
	}
}

func TestDedupKeysDistinct(t *testing.T) {
	seen := make(map[dedupKey]string)
	add := func(id string) {
		k := keyOf([]byte(id))
		if prev, ok := seen[k]; ok {
			t.Fatalf("ids %q and %q share a dedup key", prev, id)
		}
		seen[k] = id
	}
	for _, id := range []string{"a", "a\x00", "\x00a", "a\x00\x00\x00\x00\x00\x00\x00", "12345678", "123456789", "b"} {
		add(id)
	}
	for i := 0; i < 200_000; i++ {
		add(fmt.Sprintf("msg-%d", i))
	}
	if keyOf([]byte("same")) != keyOf([]byte("same")) {
		t.Fatal("key is not a function of the id")
	}
}
