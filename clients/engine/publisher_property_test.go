package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"pgregory.net/rapid"
)

// pubAnswer is one frame from the fake broker to the publisher.
type pubAnswer struct {
	kind        wire.FrameType // FrameConfirm, FrameConfirmDup or FrameNack
	first, last uint64
	code        uint16
}

// pubWorld is a publisher engine, a lossy link in each direction and a
// fake broker with a dedup window, all driven by rapid's draws.
type pubWorld struct {
	t      *rapid.T
	failed func(format string, args ...any) // nil: w.t.Fatalf
	p      *Publisher
	window int
	retry  bool
	now    time.Time

	added    map[string]Message
	order    []string
	resolved map[string]Resolution
	nextID   int

	connected bool
	nextSeq   uint64 // the seq the next frame on this connection must carry
	seqID     map[uint64]string
	toBroker  []wire.Publish // copies, in flight
	toClient  []pubAnswer

	accepted map[string]bool            // ids the broker stored
	refused  map[string]map[uint16]bool // codes the broker refused an id with
}

func (w *pubWorld) add() {
	id := fmt.Sprintf("m%d", w.nextID)
	w.nextID++
	m := Message{ID: id, Exchange: "ex", RoutingKey: "rk", Body: []byte("body of " + id)}
	if err := w.p.Add(m); err != nil {
		w.fail("Add(%s): %v", id, err)
	}
	w.added[id] = m
	w.order = append(w.order, id)
}

func (w *pubWorld) poll() {
	frames := w.p.Poll(w.now)
	if !w.connected && len(frames) > 0 {
		w.fail("Poll sent %d frames while disconnected", len(frames))
	}
	for _, f := range frames {
		id := string(f.MessageID)
		m, ok := w.added[id]
		if !ok {
			w.fail("frame for id %q that was never added", id)
		}
		if _, done := w.resolved[id]; done {
			w.fail("frame for %s, already resolved", id)
		}
		if !bytes.Equal(f.Body, m.Body) || string(f.Exchange) != m.Exchange || string(f.RoutingKey) != m.RoutingKey {
			w.fail("frame for %s does not carry the message it was added with", id)
		}
		if f.Seq != w.nextSeq {
			w.fail("frame seq %d, want %d (contiguous from 1 per connection)", f.Seq, w.nextSeq)
		}
		w.nextSeq++
		w.seqID[f.Seq] = id
		w.toBroker = append(w.toBroker, wire.Publish{
			Seq: f.Seq, Exchange: bytes.Clone(f.Exchange), RoutingKey: bytes.Clone(f.RoutingKey),
			MessageID: bytes.Clone(f.MessageID), Body: bytes.Clone(f.Body),
		})
	}
	w.check()
}

// brokerReceives hands the publish at index i to the fake broker, which
// answers (possibly coalescing with the previous confirm, as the real one
// does only for publishes it confirmed).
func (w *pubWorld) brokerReceives(i int, lossy bool) {
	f := w.toBroker[i]
	w.toBroker = append(w.toBroker[:i], w.toBroker[i+1:]...)
	if lossy && rapid.IntRange(0, 9).Draw(w.t, "drop publish") == 0 {
		return
	}
	id := string(f.MessageID)
	var a pubAnswer
	switch {
	case w.accepted[id]:
		a = pubAnswer{kind: wire.FrameConfirmDup, first: f.Seq}
	case lossy && rapid.IntRange(0, 9).Draw(w.t, "refuse") == 0:
		code := rapid.SampledFrom([]uint16{300, 301, 502}).Draw(w.t, "code")
		if w.refused[id] == nil {
			w.refused[id] = map[uint16]bool{}
		}
		w.refused[id][code] = true
		a = pubAnswer{kind: wire.FrameNack, first: f.Seq, code: code}
	default:
		w.accepted[id] = true
		a = pubAnswer{kind: wire.FrameConfirm, first: f.Seq, last: f.Seq}
		if n := len(w.toClient); n > 0 {
			prev := &w.toClient[n-1]
			if prev.kind == wire.FrameConfirm && prev.last+1 == f.Seq {
				prev.last = f.Seq
				return
			}
		}
	}
	w.toClient = append(w.toClient, a)
}

func (w *pubWorld) clientReceives(i int, lossy bool) {
	a := w.toClient[i]
	if lossy && rapid.IntRange(0, 4).Draw(w.t, "duplicate answer") == 0 {
		// keep it in flight: it arrives twice
	} else {
		w.toClient = append(w.toClient[:i], w.toClient[i+1:]...)
	}
	if lossy && rapid.IntRange(0, 9).Draw(w.t, "drop answer") == 0 {
		return
	}
	switch a.kind {
	case wire.FrameConfirm:
		w.p.HandleConfirm(wire.Confirm{First: a.first, Last: a.last})
	case wire.FrameConfirmDup:
		w.p.HandleConfirmDup(wire.ConfirmDup{Seq: a.first})
	case wire.FrameNack:
		w.p.HandleNack(wire.Nack{Seq: a.first, Code: a.code, Reason: "refused"})
	}
	w.collect()
}

func (w *pubWorld) collect() {
	for _, r := range w.p.Resolutions() {
		if _, dup := w.resolved[r.ID]; dup {
			w.fail("%s resolved twice: %+v", r.ID, r)
		}
		if _, ok := w.added[r.ID]; !ok {
			w.fail("resolution for unknown id %s", r.ID)
		}
		switch r.Outcome {
		case Confirmed, Duplicate:
			if !w.accepted[r.ID] {
				w.fail("%s resolved %v but the broker never stored it", r.ID, r.Outcome)
			}
		case Refused:
			if !w.refused[r.ID][r.Code] {
				w.fail("%s refused with code %d the broker never gave it", r.ID, r.Code)
			}
			if w.retry && r.Code == 502 {
				w.fail("%s resolved by a retryable nack", r.ID)
			}
		default:
			w.fail("%s: unknown outcome %v", r.ID, r.Outcome)
		}
		w.resolved[r.ID] = r
	}
	w.check()
}

func (w *pubWorld) reconnect(stayDown bool) {
	w.p.Disconnected(w.now)
	w.connected = false
	// Frames of the old connection never reach the new one.
	w.toBroker, w.toClient = nil, nil
	clear(w.seqID)
	if stayDown {
		return
	}
	w.p.Connected(w.now)
	w.connected, w.nextSeq = true, 1
}

func (w *pubWorld) check() {
	if w.p.InFlight() > w.window {
		w.fail("in flight %d above the window %d", w.p.InFlight(), w.window)
	}
	if got, want := w.p.Pending(), len(w.added)-len(w.resolved); got != want {
		w.fail("pending %d, want %d", got, want)
	}
	if d, ok := w.p.NextDeadline(); ok && d.Before(w.now.Add(-time.Hour)) {
		w.fail("deadline %v far in the past of %v: Tick is not consuming deadlines", d, w.now)
	}
}

// heal stops all faults and runs until every message resolves.
func (w *pubWorld) heal() {
	if !w.connected {
		w.reconnect(false)
	}
	for round := 0; w.p.Pending() > 0; round++ {
		if round > 100 {
			w.fail("%d messages still pending after 100 fault-free rounds", w.p.Pending())
		}
		if d, ok := w.p.NextDeadline(); ok && d.After(w.now) {
			w.now = d
		}
		w.poll()
		for len(w.toBroker) > 0 {
			w.brokerReceives(0, false)
		}
		for len(w.toClient) > 0 {
			w.clientReceives(0, false)
		}
	}
	for _, id := range w.order {
		if _, ok := w.resolved[id]; !ok {
			w.fail("%s never resolved", id)
		}
	}
}

func TestPublisherPropertyEveryMessageResolvesExactlyOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := &pubWorld{
			t:        t,
			window:   rapid.IntRange(1, 6).Draw(t, "window"),
			retry:    rapid.Bool().Draw(t, "retry 502"),
			now:      t0,
			added:    map[string]Message{},
			resolved: map[string]Resolution{},
			seqID:    map[uint64]string{},
			accepted: map[string]bool{},
			refused:  map[string]map[uint16]bool{},
		}
		cfg := PublisherConfig{
			Window:            w.window,
			ConfirmTimeout:    time.Second,
			MaxConfirmTimeout: 4 * time.Second,
			Rand:              rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1)),
		}
		if w.retry {
			cfg.RetryCodes = []uint16{502}
		}
		w.p = NewPublisher(cfg)
		if rapid.Bool().Draw(t, "start connected") {
			w.reconnect(false)
		}
		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1:
				w.add()
			case 2, 3:
				w.poll()
			case 4:
				if len(w.toBroker) > 0 {
					w.brokerReceives(rapid.IntRange(0, len(w.toBroker)-1).Draw(t, "publish"), true)
				}
			case 5, 6:
				if len(w.toClient) > 0 {
					w.clientReceives(rapid.IntRange(0, len(w.toClient)-1).Draw(t, "answer"), true)
				}
			case 7:
				w.now = w.now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
			case 8:
				w.reconnect(rapid.Bool().Draw(t, "stay down"))
			case 9:
				if !w.connected {
					w.reconnect(false)
				}
			}
		}
		w.heal()
	})
}

// fail reports a broken invariant: through rapid in the property, to a
// recorder in the test that proves the checks can fail.
func (w *pubWorld) fail(format string, args ...any) {
	if w.failed != nil {
		w.failed(format, args...)
		return
	}
	w.t.Fatalf(format, args...)
}
