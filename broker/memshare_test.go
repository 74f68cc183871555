package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestMemoryShareRefusesOnlyTheFloodingUser: a user whose published,
// still-held copies reach its share has its publishes refused with 503,
// whoever owns the target queue, while another user publishes on; acking
// frees the share.
func TestMemoryShareRefusesOnlyTheFloodingUser(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("flood", "canary")
	perCopy := copyCost(&message{id: "m-000", routingKey: "flood", body: make([]byte, 100)}) + MessageOverhead
	share := 10 * perCopy
	mallory := Owner{User: "mallory", Limits: UserLimits{QueuedBytes: share}}
	alice := Owner{User: "alice", Limits: UserLimits{QueuedBytes: share}}
	h.c.OpenAs(1, mallory, h.now)
	h.c.OpenAs(2, alice, h.now)
	body := strings.Repeat("b", 100)
	for i := range 10 {
		h.mustConfirm(1, "x", "flood", fmt.Sprintf("m-%03d", i), body)
	}
	if got := h.c.Usage("mallory").QueuedBytes; got != share {
		t.Fatalf("mallory holds %d queued bytes, want %d", got, share)
	}
	effs := h.publish(1, "x", "flood", "m-010", body)
	if effs[0].Kind != EffectRefuse || !errors.Is(effs[0].Err, ErrMemoryShare) || !strings.Contains(effs[0].Err.Msg, "memory share") {
		t.Fatalf("mallory's publish over its share: %s, want a 503 memory share refusal", describe(effs))
	}
	if h.stats("flood").Ready != 10 {
		t.Fatalf("the refused publish was enqueued")
	}
	// Alice publishes on, to her queue and to mallory's: her copies count
	// against her, not against the queue's owner.
	for i := range 5 {
		h.mustConfirm(2, "x", "canary", fmt.Sprintf("a-%d", i), body)
		h.mustConfirm(2, "x", "flood", fmt.Sprintf("af-%d", i), body)
	}
	if got := h.c.Usage("mallory").QueuedBytes; got != share {
		t.Fatalf("alice's copies changed mallory's usage to %d", got)
	}
	// A retry of a message already accepted still converges.
	if effs := h.publish(1, "x", "flood", "m-000", body); effs[0].Kind != EffectConfirm || !effs[0].Duplicate {
		t.Fatalf("mallory's retry of an accepted id: %s, want a duplicate confirm", describe(effs))
	}
	// A consumer drains two of mallory's messages: she may publish again.
	h.open(3)
	_, ds := h.consume(3, ConsumeOptions{Queue: "flood", Prefetch: 2})
	if len(ds) != 2 {
		t.Fatalf("consumer got %d deliveries, want 2", len(ds))
	}
	h.mustRefuse(1, "x", "flood", "m-011", body, CodeUnavailable) // unacked copies still count
	h.ack(3, ds[1].Tag, true)
	h.mustConfirm(1, "x", "flood", "m-012", body)
	// Deleting the queue frees everything mallory published into it.
	if _, err := h.c.DeleteQueue("flood", h.now); err != nil {
		t.Fatal(err)
	}
	h.c.Drain()
	h.check()
	if got := h.c.Usage("mallory").QueuedBytes; got != 0 {
		t.Fatalf("mallory still holds %d queued bytes after her queue was deleted", got)
	}
}

// TestMemoryShareAnonymousAndUnlimited: the anonymous user "" and a user
// without a share are bounded only by the global budget.
func TestMemoryShareAnonymousAndUnlimited(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.c.OpenAs(1, Owner{User: "", Limits: UserLimits{QueuedBytes: 1}}, h.now)
	h.c.OpenAs(2, Owner{User: "bob"}, h.now)
	for i := range 3 {
		h.mustConfirm(1, "x", "q", fmt.Sprint("anon-", i), "body")
		h.mustConfirm(2, "x", "q", fmt.Sprint("bob-", i), "body")
	}
	if got := h.c.Usage(""); got.QueuedBytes != 0 {
		t.Fatalf("the anonymous user is accounted %d bytes", got.QueuedBytes)
	}
	if got := h.c.Usage("bob").QueuedBytes; got <= 0 {
		t.Fatalf("bob's copies are not accounted: %d", got)
	}
}

// TestCheckUsageCatchesQueuedBytesDrift proves the recount fails when the
// queued-bytes record drifts.
func TestCheckUsageCatchesQueuedBytesDrift(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.c.OpenAs(1, Owner{User: "bob"}, h.now)
	h.mustConfirm(1, "x", "q", "m", "body")
	h.c.usage["bob"].QueuedBytes++
	if err := h.c.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "usage of user") {
		t.Fatalf("CheckInvariants with drifted queued bytes: %v, want a usage error", err)
	}
}

// TestEachVhostVisitsOnlyThatVhost: a vhost's walk visits its own queues
// and exchanges only (the work meter counts each visit), the default
// vhost's included, whatever the other vhosts hold.
func TestEachVhostVisitsOnlyThatVhost(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 300 {
		h.queue(Qualify("big", fmt.Sprintf("q%03d", i)), QueueOptions{})
		h.exchange(Qualify("big", fmt.Sprintf("x%03d", i)), Direct)
	}
	for _, n := range []string{"a", "bigger", "zz"} {
		h.queue(n, QueueOptions{})
		h.exchange(n, Direct)
	}
	h.queue(Qualify("v", "only"), QueueOptions{})
	h.check()
	walk := func(vhost string) (queues, exchanges []string, work uint64) {
		before, _ := h.c.WorkMeter()
		h.c.EachVhostQueue(vhost, "", func(q QueueStats) bool { queues = append(queues, q.Name); return true })
		h.c.EachVhostExchange(vhost, "", func(e ExchangeStats) bool { exchanges = append(exchanges, e.Name); return true })
		after, _ := h.c.WorkMeter()
		return queues, exchanges, after - before
	}
	q, x, work := walk(DefaultVhost)
	if fmt.Sprint(q) != "[a bigger zz]" || fmt.Sprint(x) != "[a bigger zz]" || work != 6 {
		t.Fatalf("default vhost walk: queues %v, exchanges %v, work %d", q, x, work)
	}
	q, x, work = walk("v")
	if len(q) != 1 || q[0] != Qualify("v", "only") || len(x) != 0 || work != 1 {
		t.Fatalf("vhost v walk: queues %q, exchanges %q, work %d", q, x, work)
	}
	if q, _, _ = walk("big"); len(q) != 300 {
		t.Fatalf("vhost big walk: %d queues, want 300", len(q))
	}
	// Deletes leave the indexes.
	if _, err := h.c.DeleteQueue("bigger", h.now); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DeleteExchange("bigger"); err != nil {
		t.Fatal(err)
	}
	h.check()
	if q, x, _ = walk(""); len(q) != 2 || len(x) != 2 {
		t.Fatalf("after deletes: %v %v", q, x)
	}
	// The invariant check sees a default-vhost index that drifted.
	h.c.defaultQueues.delete("a")
	if err := h.c.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "default vhost index") {
		t.Fatalf("CheckInvariants with a drifted index: %v", err)
	}
}
