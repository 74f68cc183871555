package broker

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestDurableQueuesSurvivePowerLoss: random publishes (durable, in-memory,
// both), consumes, acks, requeues, fsyncs and power losses (tearing the
// last write by a random amount). After every restart:
//   - every message confirmed into the durable queue and never acked is in it;
//   - no message whose ack was fsynced is back;
//   - nothing is there that was never published; the core's invariants hold.
func TestDurableQueuesSurvivePowerLoss(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := newDurableRig(rt, Config{})
		if err := r.c.DeclareExchange("ex", Direct); err != nil {
			rt.Fatal(err)
		}
		for _, err := range []error{
			r.c.DeclareQueue("d", QueueOptions{Durable: true}),
			r.c.DeclareQueue("mem", QueueOptions{}),
			r.c.Bind("ex", "d", "dk"), r.c.Bind("ex", "mem", "mk"),
			r.c.Bind("ex", "d", "both"), r.c.Bind("ex", "mem", "both"),
		} {
			if err != nil {
				rt.Fatal(err)
			}
		}
		r.sync()
		published := map[string]bool{} // ids routed to d
		confirmed := map[string]bool{} // ids routed to d and confirmed
		acked := map[string]bool{}     // acked from d (maybe not durable yet)
		ackedSynced := map[string]bool{}
		var ackedSinceSync []string
		tags := map[uint64]string{} // outstanding deliveries from d on conn 1
		next, seq := 0, uint64(0)
		conn := ConnID(1)
		open := func() {
			r.c.Open(conn, t0)
			if _, err := r.c.Consume(conn, ConsumeOptions{Queue: "d", Tag: "c", Prefetch: 4}, t0); err != nil {
				rt.Fatal(err)
			}
			clear(tags)
		}
		open()
		collect := func(effs []Effect, ids map[uint64]string) {
			for _, e := range effs {
				switch e.Kind {
				case EffectConfirm:
					if id, ok := ids[e.Seq]; ok {
						confirmed[id] = true
					}
				case EffectDeliver:
					if e.Conn == conn && e.Delivery.Queue == "d" {
						tags[e.Delivery.Tag] = e.Delivery.MessageID
					}
				}
			}
		}
		pubIDs := map[uint64]string{} // publish seq -> id routed to d
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 4:
				key := rapid.SampledFrom([]string{"dk", "mk", "both"}).Draw(rt, "key")
				next++
				seq++
				id := fmt.Sprintf("m%d", next)
				if key != "mk" {
					published[id] = true
					pubIDs[seq] = id
				}
				r.publish(conn, seq, "ex", key, id)
				collect(r.pump(), pubIDs)
			case op < 6 && len(tags) > 0:
				keys := make([]uint64, 0, len(tags))
				for tg := range tags {
					keys = append(keys, tg)
				}
				slices.Sort(keys)
				tg := rapid.SampledFrom(keys).Draw(rt, "tag")
				id := tags[tg]
				delete(tags, tg)
				if rapid.Bool().Draw(rt, "ack") {
					if err := r.c.Ack(conn, tg, false, t0); err != nil {
						rt.Fatalf("ack %d: %v", tg, err)
					}
					acked[id] = true
					ackedSinceSync = append(ackedSinceSync, id)
				} else if err := r.c.Nack(conn, tg, false, true, t0); err != nil {
					rt.Fatalf("nack %d: %v", tg, err)
				}
				collect(r.pump(), pubIDs)
			case op < 8:
				collect(r.sync(), pubIDs)
				for _, id := range ackedSinceSync {
					ackedSynced[id] = true
				}
				ackedSinceSync = nil
			default:
				r.pump()
				r.fs.Crash(rapid.IntRange(0, 300).Draw(rt, "torn"))
				r.start()
				if err := r.c.CheckInvariants(); err != nil {
					rt.Fatalf("after restart: %v", err)
				}
				held := heldIDs(r.c, "d")
				for id := range confirmed {
					if !acked[id] && !slices.Contains(held, id) {
						rt.Fatalf("confirmed, unacked message %s lost by a power cut (held %v)", id, held)
					}
				}
				for _, id := range held {
					if ackedSynced[id] {
						rt.Fatalf("message %s acked and fsynced, back after a power cut", id)
					}
					if !published[id] {
						rt.Fatalf("message %s was never published to d", id)
					}
				}
				if r.c.QueueExists("mem") {
					rt.Fatal("in-memory queue survived")
				}
				// A new incarnation: unconfirmed publishes are unknown and
				// acks that were not durable are undone, as the checks allowed.
				for id := range acked {
					if slices.Contains(held, id) {
						delete(acked, id)
					}
				}
				ackedSinceSync = nil
				clear(pubIDs)
				if err := r.c.DeclareQueue("mem", QueueOptions{}); err != nil {
					rt.Fatal(err)
				}
				open()
				collect(r.pump(), pubIDs)
			}
		}
	})
}
