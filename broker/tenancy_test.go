package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// publishAs publishes one message as user and returns the outcome effect.
func (h *harness) publishAs(conn ConnID, user, ex, key, id string) Effect {
	h.t.Helper()
	h.seq++
	h.c.Publish(conn, &Publish{Seq: h.seq, User: user, Exchange: []byte(ex), RoutingKey: []byte(key), MessageID: []byte(id), Body: []byte("b")}, h.now)
	effs := slices.Clone(h.c.Drain())
	if len(effs) == 0 || effs[0].Seq != h.seq {
		h.t.Fatalf("publish %s as %s: got %s", id, user, describe(effs))
	}
	h.check()
	return effs[0]
}

func TestDedupIsScopedByUserAndExchange(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.exchange("y", Direct)
	h.bind("y", "q", "q")
	h.open(1)

	if e := h.publishAs(1, "mallory", "x", "q", "victim-1"); e.Kind != EffectConfirm || e.Duplicate {
		t.Fatalf("first publish: %+v", e)
	}
	// Another user's publish of the same id is not a duplicate: it is enqueued.
	if e := h.publishAs(1, "alice", "x", "q", "victim-1"); e.Kind != EffectConfirm || e.Duplicate {
		t.Fatalf("alice's publish of an id mallory used first: %+v, want a plain confirm", e)
	}
	// The same user and id through another exchange is another message too.
	if e := h.publishAs(1, "alice", "y", "q", "victim-1"); e.Kind != EffectConfirm || e.Duplicate {
		t.Fatalf("alice's publish through exchange y: %+v, want a plain confirm", e)
	}
	// The same user, exchange and id is a duplicate.
	if e := h.publishAs(1, "alice", "x", "q", "victim-1"); e.Kind != EffectConfirm || !e.Duplicate {
		t.Fatalf("alice's retry: %+v, want a duplicate confirm", e)
	}
	if got := h.stats("q").Ready; got != 3 {
		t.Fatalf("queue holds %d messages, want 3", got)
	}
}

func TestDedupFloodDoesNotEvictAnotherUsersIDs(t *testing.T) {
	h := newHarness(t, Config{DedupMaxIDs: 10})
	h.topology("q")
	h.open(1)
	h.publishAs(1, "alice", "x", "q", "a-1")
	for i := range 100 {
		h.publishAs(1, "mallory", "x", "q", fmt.Sprint("flood-", i))
	}
	if e := h.publishAs(1, "alice", "x", "q", "a-1"); !e.Duplicate {
		t.Fatalf("alice's retry after mallory's flood: %+v, want a duplicate confirm (her id was evicted)", e)
	}
	// Mallory's own window did evict her oldest ids, and stats say so.
	if e := h.publishAs(1, "mallory", "x", "q", "flood-0"); e.Duplicate {
		t.Fatalf("mallory's evicted id is still remembered")
	}
	h.advance(3 * time.Second)
	h.c.Tick(h.now) // the core learns the time
	s := h.c.Stats()
	var full, alice *DedupUserStats
	for i := range s.DedupUsers {
		switch s.DedupUsers[i].User {
		case "mallory":
			full = &s.DedupUsers[i]
		case "alice":
			alice = &s.DedupUsers[i]
		}
	}
	if full == nil || !full.Full || full.IDs != 10 {
		t.Fatalf("mallory's dedup stats %+v, want a full window of 10 ids", full)
	}
	if alice == nil || alice.Full || alice.IDs != 1 {
		t.Fatalf("alice's dedup stats %+v, want 1 id, not full", alice)
	}
	// Everything happened at one instant, then 3 s passed: the full
	// window reaches back 3 s, far below the configured 10 minutes.
	if s.DedupEffectiveWindowMs != 3000 {
		t.Fatalf("effective window %d ms, want 3000 (the age of mallory's oldest id)", s.DedupEffectiveWindowMs)
	}
}

func TestVhostsKeepNamesApart(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := Qualify("tenant-a", "orders"), Qualify("tenant-b", "orders")
	for _, q := range []string{"orders", a, b} {
		h.queue(q, QueueOptions{})
	}
	if got := len(h.c.Stats().Queues); got != 3 {
		t.Fatalf("%d queues, want 3 distinct ones", got)
	}
	if v, n := SplitQualified(a); v != "tenant-a" || n != "orders" {
		t.Fatalf("SplitQualified(%q) = %q, %q", a, v, n)
	}
	if v, n := SplitQualified("orders"); v != DefaultVhost || n != "orders" {
		t.Fatalf("SplitQualified of a bare name = %q, %q", v, n)
	}
	if Qualify(DefaultVhost, "orders") != "orders" {
		t.Fatalf("the default vhost must keep bare names")
	}
	// Errors show the local name only.
	_, err := h.c.DeleteQueue(Qualify("tenant-a", "missing"), h.now)
	wantCode(t, err, CodeQueueNotFound)
	if want := `queue "missing" not found: nothing to delete (code 201)`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// A name that spells the default vhost explicitly, or an invalid vhost, is refused.
	wantCode(t, h.c.DeclareQueue("/"+VhostSeparator+"orders", QueueOptions{}), CodeInvalidArgument)
	wantCode(t, h.c.DeclareQueue("bad vhost"+VhostSeparator+"orders", QueueOptions{}), CodeInvalidArgument)
	wantCode(t, h.c.DeclareQueue(VhostSeparator+"orders", QueueOptions{}), CodeInvalidArgument)
}

func TestPerUserLimits(t *testing.T) {
	h := newHarness(t, Config{})
	alice := Owner{User: "alice", Limits: UserLimits{Queues: 2, Exchanges: 1, Bindings: 2, Consumers: 1}}
	if err := h.c.DeclareExchangeAs(alice, "ax", Direct); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.c.DeclareExchangeAs(alice, "ax2", Direct), CodeResourceLimit)
	if err := h.c.DeclareExchangeAs(alice, "ax", Direct); err != nil {
		t.Fatalf("redeclaring an existing exchange must not count: %v", err)
	}
	for _, q := range []string{"a1", "a2"} {
		if err := h.c.DeclareQueueAs(alice, q, QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, h.c.DeclareQueueAs(alice, "a3", QueueOptions{}), CodeResourceLimit)
	// Another user is not affected by alice's limits.
	if err := h.c.DeclareQueueAs(Owner{User: "bob", Limits: alice.Limits}, "b1", QueueOptions{}); err != nil {
		t.Fatalf("bob: %v", err)
	}
	for _, q := range []string{"a1", "a2"} {
		if err := h.c.BindAs(alice, "ax", q, "k"); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, h.c.BindAs(alice, "ax", "b1", "k"), CodeResourceLimit)
	h.c.OpenAs(1, alice, h.now)
	if _, err := h.c.Consume(1, ConsumeOptions{Queue: "a1"}, h.now); err != nil {
		t.Fatal(err)
	}
	_, err := h.c.Consume(1, ConsumeOptions{Queue: "a2"}, h.now)
	wantCode(t, err, CodeResourceLimit)
	h.check()
	if got, want := h.c.Usage("alice"), (Usage{Queues: 2, Exchanges: 1, Bindings: 2, Consumers: 1}); got != want {
		t.Fatalf("usage %+v, want %+v", got, want)
	}
	// Deleting a queue (by anyone) frees its owner's queue, binding and
	// consumer slots.
	if _, err := h.c.DeleteQueue("a1", h.now); err != nil {
		t.Fatal(err)
	}
	h.c.Drain()
	h.check()
	if got, want := h.c.Usage("alice"), (Usage{Queues: 1, Exchanges: 1, Bindings: 1, Consumers: 0}); got != want {
		t.Fatalf("usage after deleting a1 %+v, want %+v", got, want)
	}
	if err := h.c.DeleteExchange("ax"); err != nil {
		t.Fatal(err)
	}
	h.c.Close(1, h.now)
	if _, err := h.c.DeleteQueue("a2", h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	if got := h.c.Usage("alice"); got != (Usage{}) {
		t.Fatalf("usage after deleting everything %+v, want none", got)
	}
}
