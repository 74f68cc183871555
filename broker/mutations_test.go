package broker

import "testing"

// Each test-only mutation must really break the guarantee it names;
// otherwise the fault harness could not prove that its checkers work.

func TestMutationNoDedupBreaksDedup(t *testing.T) {
	for _, mutate := range []bool{false, true} {
		h := newHarness(t, Config{Mutations: Mutations{NoDedup: mutate}})
		h.topology("q")
		h.open(1)
		h.mustConfirm(1, "x", "q", "m1", "")
		effs := h.publish(1, "x", "q", "m1", "")
		copies := len(h.readyIDs("q"))
		if !mutate && (copies != 1 || !effs[0].Duplicate) {
			t.Fatalf("without the mutation: %d copies, confirm %s", copies, describe(effs))
		}
		if mutate && (copies != 2 || effs[0].Duplicate) {
			t.Fatalf("NoDedup did not enqueue the duplicate: %d copies", copies)
		}
	}
}

func TestMutationNoRequeueOnCloseLosesMessages(t *testing.T) {
	for _, mutate := range []bool{false, true} {
		h := newHarness(t, Config{Mutations: Mutations{NoRequeueOnClose: mutate}})
		h.topology("q")
		h.open(1)
		h.consume(1, ConsumeOptions{Queue: "q"})
		h.mustConfirm(1, "x", "q", "m1", "")
		h.close(1)
		held := len(h.c.Held())
		if !mutate && held != 1 {
			t.Fatalf("without the mutation the message should be requeued, held %d", held)
		}
		if mutate {
			s := h.stats("q")
			if held != 0 || s.Discarded != 0 || s.DeadLettered != 0 || s.Acked != 0 {
				t.Fatalf("NoRequeueOnClose should drop silently: held %d, stats %+v", held, s)
			}
		}
	}
}

func TestMutationConfirmBeforeEnqueueLosesConfirmedMessages(t *testing.T) {
	for _, mutate := range []bool{false, true} {
		h := newHarness(t, Config{Mutations: Mutations{ConfirmBeforeEnqueue: mutate}})
		h.topology("idle", "busy")
		h.exchange("f", Fanout)
		h.bind("f", "idle", "")
		h.bind("f", "busy", "")
		h.open(1)
		h.consume(1, ConsumeOptions{Queue: "busy"})
		ds := h.mustConfirm(1, "f", "", "m1", "") // confirmed in both modes
		if len(ds) != 1 || ds[0].Queue != "busy" {
			t.Fatalf("queue with a consumer should still get it: %+v", ds)
		}
		inIdle := len(h.readyIDs("idle"))
		if !mutate && inIdle != 1 {
			t.Fatalf("without the mutation the idle queue holds %d", inIdle)
		}
		if mutate && inIdle != 0 {
			t.Fatal("ConfirmBeforeEnqueue enqueued into a queue without consumers")
		}
	}
}
