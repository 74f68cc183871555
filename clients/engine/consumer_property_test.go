package engine

import (
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"pgregory.net/rapid"
)

// brokerMsg is one message held by the fake broker.
type brokerMsg struct {
	seq        int // publish number, unique per message (ids may repeat)
	id         string
	deliveries uint64 // how often the broker gave it out
}

// appDelivery is a delivery the application is working on.
type appDelivery struct {
	ref Ref
	id  string
}

// consWorld is a consumer engine between a fake broker with per-connection
// delivery tags and an application that stores, fails or rejects, with a
// lossy, duplicating, reordering link in each direction.
type consWorld struct {
	t        *rapid.T
	failed   func(format string, args ...any) // nil: w.t.Fatalf
	c        *Consumer
	prefetch int

	// broker
	ready       []brokerMsg
	outstanding map[uint64]brokerMsg // tag -> message, current connection
	lastTag     uint64
	acked       []brokerMsg
	rejected    []brokerMsg
	toClient    []wire.Deliver
	toBroker    []Settlement
	// refuse: answer a settlement of a tag the broker does not hold with
	// AckRefused, straight to the engine, as the real broker does.
	refuse bool

	// application
	stored    map[string]bool // the durable dedup record
	permanent map[string]bool // ids the application refused for good
	working   []appDelivery
	stale     []appDelivery // deliveries of older connections still in the app
	tagsSeen  map[uint64]bool
}

func (w *consWorld) Seen(id string) bool { return w.stored[id] }

func (w *consWorld) brokerDelivers(lossy bool) {
	if len(w.ready) == 0 || len(w.outstanding) >= w.prefetch {
		return
	}
	m := w.ready[0]
	w.ready = w.ready[1:]
	w.lastTag++
	m.deliveries++
	w.outstanding[w.lastTag] = m
	if lossy && rapid.IntRange(0, 9).Draw(w.t, "drop deliver") == 0 {
		return // lost: the broker still holds it until an ack timeout
	}
	d := wire.Deliver{DeliveryTag: w.lastTag, MessageID: []byte(m.id), DeliveryCount: m.deliveries}
	if m.deliveries > 1 {
		d.Flags = wire.FlagRedelivered
	}
	w.toClient = append(w.toClient, d)
}

// ackTimeout requeues one outstanding delivery, as the broker does when a
// delivery is not settled in time.
func (w *consWorld) ackTimeout() {
	// The oldest one, so the run does not depend on map order.
	var oldest uint64
	for tag := range w.outstanding {
		if oldest == 0 || tag < oldest {
			oldest = tag
		}
	}
	if m, ok := w.outstanding[oldest]; ok {
		delete(w.outstanding, oldest)
		w.ready = append(w.ready, m)
	}
}

func (w *consWorld) clientReceives(i int, lossy bool) {
	d := w.toClient[i]
	if !lossy || rapid.IntRange(0, 4).Draw(w.t, "duplicate deliver") != 0 {
		w.toClient = append(w.toClient[:i], w.toClient[i+1:]...)
	}
	ref, dec := w.c.Handle(&d)
	id := string(d.MessageID)
	switch dec {
	case Process:
		if w.stored[id] {
			w.fail("tag %d: %s handed to the application although it is stored", d.DeliveryTag, id)
		}
		for _, a := range w.working {
			if a.id == id {
				w.fail("tag %d: %s handed to the application while it processes it already", d.DeliveryTag, id)
			}
		}
		w.working = append(w.working, appDelivery{ref: ref, id: id})
		w.tagsSeen[d.DeliveryTag] = true
	case AckDuplicate:
		if !w.stored[id] {
			w.fail("tag %d: %s acked as a duplicate but never stored", d.DeliveryTag, id)
		}
		w.tagsSeen[d.DeliveryTag] = true
	case Parked:
		w.tagsSeen[d.DeliveryTag] = true
	}
}

func (w *consWorld) appSettles(i int, res Result) {
	a := w.working[i]
	w.working = append(w.working[:i], w.working[i+1:]...)
	switch res {
	case Stored:
		// Durable before the verdict, as a real receiver does.
		w.stored[a.id] = true
	case Permanent:
		w.permanent[a.id] = true
	}
	if err := w.c.Settle(a.ref, res); err != nil {
		w.fail("settle %+v: %v", a.ref, err)
	}
}

func (w *consWorld) staleSettles(i int) {
	a := w.stale[i]
	w.stale = append(w.stale[:i], w.stale[i+1:]...)
	w.stored[a.id] = true
	if err := w.c.Settle(a.ref, Stored); err == nil {
		w.fail("settling a delivery of a closed connection succeeded: %+v", a.ref)
	}
}

func (w *consWorld) poll(lossy bool) {
	for _, s := range w.c.Poll() {
		if !w.tagsSeen[s.DeliveryTag] {
			w.fail("settlement %+v for a tag this connection never handed over", s)
		}
		if lossy && rapid.IntRange(0, 9).Draw(w.t, "drop settlement") == 0 {
			continue
		}
		w.toBroker = append(w.toBroker, s)
	}
}

// brokerApplies applies one settlement with the real broker's rules; the
// safety checks are here: nothing is acked unless its id is stored, nothing
// is rejected unless the application refused that id.
func (w *consWorld) brokerApplies(i int) {
	s := w.toBroker[i]
	w.toBroker = append(w.toBroker[:i], w.toBroker[i+1:]...)
	var tags []uint64
	if s.Kind == SettleAck && s.Multiple {
		for tag := range w.outstanding {
			if tag <= s.DeliveryTag {
				tags = append(tags, tag)
			}
		}
	} else if _, ok := w.outstanding[s.DeliveryTag]; ok {
		tags = []uint64{s.DeliveryTag}
	} else if w.refuse {
		w.c.HandleAckRefused(wire.AckRefused{DeliveryTag: s.DeliveryTag, Code: 406})
	}
	for _, tag := range tags {
		m := w.outstanding[tag]
		delete(w.outstanding, tag)
		switch s.Kind {
		case SettleAck:
			if !w.stored[m.id] {
				w.fail("%+v acked message %d (%s) that is not stored: it would be lost", s, m.seq, m.id)
			}
			w.acked = append(w.acked, m)
		case SettleNack:
			w.ready = append(w.ready, m)
		case SettleReject:
			if !w.permanent[m.id] {
				w.fail("%+v dead-lettered %s that the application never refused", s, m.id)
			}
			w.rejected = append(w.rejected, m)
		}
	}
}

func (w *consWorld) reconnect() {
	for _, m := range w.outstanding {
		w.ready = append(w.ready, m)
	}
	clear(w.outstanding)
	w.lastTag = 0
	w.toClient, w.toBroker = nil, nil
	clear(w.tagsSeen)
	w.stale = append(w.stale, w.working...)
	w.working = nil
	w.c.Disconnected()
	w.c.Connected()
}

// heal: no more faults, the application stores everything, until the broker
// holds nothing.
func (w *consWorld) heal(total int) {
	for round := 0; len(w.ready)+len(w.outstanding) > 0; round++ {
		if round > 10*total+100 {
			w.fail("not drained: %d ready, %d outstanding", len(w.ready), len(w.outstanding))
		}
		for len(w.stale) > 0 {
			w.staleSettles(0)
		}
		if round > 0 && len(w.toClient) == 0 && len(w.working) == 0 && len(w.toBroker) == 0 {
			// Whatever is still outstanding lost its frame: time it out.
			for len(w.outstanding) > 0 {
				w.ackTimeout()
			}
		}
		for len(w.ready) > 0 && len(w.outstanding) < w.prefetch {
			w.brokerDelivers(false)
		}
		for len(w.toClient) > 0 {
			w.clientReceives(0, false)
		}
		for len(w.working) > 0 {
			w.appSettles(0, Stored)
		}
		w.poll(false)
		for len(w.toBroker) > 0 {
			w.brokerApplies(0)
		}
	}
}

func TestConsumerPropertyNeverAcksUnstoredAndLosesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := &consWorld{
			t:           t,
			prefetch:    rapid.IntRange(1, 6).Draw(t, "prefetch"),
			outstanding: map[uint64]brokerMsg{},
			stored:      map[string]bool{},
			permanent:   map[string]bool{},
			tagsSeen:    map[uint64]bool{},
		}
		// Ids repeat: the same message published twice, as after a
		// publisher resend past the broker's dedup window.
		total := rapid.IntRange(1, 25).Draw(t, "messages")
		distinct := rapid.IntRange(1, total).Draw(t, "distinct ids")
		for i := range total {
			w.ready = append(w.ready, brokerMsg{seq: i, id: fmt.Sprintf("id%d", i%distinct)})
		}
		w.c = NewConsumer(ConsumerConfig{Prefetch: w.prefetch, Seen: w})
		w.c.Connected()
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 11).Draw(t, "action") {
			case 0, 1:
				w.brokerDelivers(true)
			case 2, 3:
				if len(w.toClient) > 0 {
					w.clientReceives(rapid.IntRange(0, len(w.toClient)-1).Draw(t, "deliver"), true)
				}
			case 4, 5:
				if len(w.working) > 0 {
					res := rapid.SampledFrom([]Result{Stored, Stored, Stored, Transient, Permanent}).Draw(t, "result")
					w.appSettles(rapid.IntRange(0, len(w.working)-1).Draw(t, "work"), res)
				}
			case 6:
				w.poll(true)
			case 7, 8:
				if len(w.toBroker) > 0 {
					w.brokerApplies(rapid.IntRange(0, len(w.toBroker)-1).Draw(t, "settlement"))
				}
			case 9:
				w.ackTimeout()
			case 10:
				if len(w.stale) > 0 {
					w.staleSettles(rapid.IntRange(0, len(w.stale)-1).Draw(t, "stale"))
				}
			case 11:
				if rapid.IntRange(0, 2).Draw(t, "reconnect?") == 0 {
					w.reconnect()
				}
			}
			if w.c.Outstanding() > len(w.tagsSeen) {
				t.Fatalf("engine tracks %d deliveries, only %d were handed over on this connection", w.c.Outstanding(), len(w.tagsSeen))
			}
		}
		w.heal(total)
		// No loss: every message was acked (its id stored) or dead-lettered
		// because the application refused its id.
		if len(w.acked)+len(w.rejected) != total {
			t.Fatalf("%d acked + %d rejected of %d messages", len(w.acked), len(w.rejected), total)
		}
	})
}

// fail reports a broken invariant: through rapid in the property, to a
// recorder in the test that proves the checks can fail.
func (w *consWorld) fail(format string, args ...any) {
	if w.failed != nil {
		w.failed(format, args...)
		return
	}
	w.t.Fatalf(format, args...)
}

// An honest broker (it never has more than the prefetch outstanding) over a
// link that reorders but loses nothing, with ack timeouts that expire while
// the application works: every delivery the engine counted beyond the
// prefetch must be explained by an expired ack timeout by the end.
func TestConsumerPropertyHonestBrokerNeverExceedsThePrefetch(t *testing.T) {
	var excused uint64 // over all draws: the excuse path must be exercised
	rapid.Check(t, func(t *rapid.T) {
		w := &consWorld{
			t:           t,
			prefetch:    rapid.IntRange(1, 4).Draw(t, "prefetch"),
			outstanding: map[uint64]brokerMsg{},
			stored:      map[string]bool{},
			permanent:   map[string]bool{},
			tagsSeen:    map[uint64]bool{},
			refuse:      true,
		}
		total := rapid.IntRange(1, 20).Draw(t, "messages")
		for i := range total {
			w.ready = append(w.ready, brokerMsg{seq: i, id: fmt.Sprintf("id%d", i)})
		}
		w.c = NewConsumer(ConsumerConfig{Prefetch: w.prefetch, Seen: w})
		w.c.Connected()
		for range rapid.IntRange(1, 150).Draw(t, "steps") {
			switch rapid.IntRange(0, 6).Draw(t, "action") {
			case 0:
				w.brokerDelivers(false)
			case 1:
				if len(w.toClient) > 0 {
					w.clientReceives(rapid.IntRange(0, len(w.toClient)-1).Draw(t, "deliver"), false)
				}
			case 2:
				if len(w.working) > 0 {
					res := rapid.SampledFrom([]Result{Stored, Stored, Transient}).Draw(t, "result")
					w.appSettles(rapid.IntRange(0, len(w.working)-1).Draw(t, "work"), res)
				}
			case 3:
				w.poll(false)
			case 4, 5:
				if len(w.toBroker) > 0 {
					w.brokerApplies(rapid.IntRange(0, len(w.toBroker)-1).Draw(t, "settlement"))
				}
			case 6:
				w.ackTimeout()
			}
		}
		w.heal(total)
		if s := w.c.Stats(); s.PrefetchViolations() != 0 {
			t.Fatalf("an honest broker blamed: %d deliveries beyond the prefetch, %d excused (%d refusals)",
				s.PrefetchExceeded, s.PrefetchExcused, s.AckRefused)
		}
		excused += w.c.Stats().PrefetchExcused
	})
	if excused == 0 {
		t.Fatal("no draw ever counted an excess that an expired ack timeout explains: the property proved nothing")
	}
	t.Logf("excesses excused over all draws: %d", excused)
}
