package engine

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func msg(id string) Message {
	return Message{ID: id, Exchange: "ex", RoutingKey: "rk", Body: []byte("body-" + id)}
}

// newPub returns a connected publisher with no jitter.
func newPub(t *testing.T, cfg PublisherConfig, ids ...string) *Publisher {
	t.Helper()
	p := NewPublisher(cfg)
	p.Connected(t0)
	for _, id := range ids {
		if err := p.Add(msg(id)); err != nil {
			t.Fatalf("Add(%q): %v", id, err)
		}
	}
	return p
}

type sentFrame struct {
	seq uint64
	id  string
}

func summarize(fs []wire.Publish) []sentFrame {
	out := make([]sentFrame, len(fs))
	for i, f := range fs {
		out[i] = sentFrame{f.Seq, string(f.MessageID)}
	}
	return out
}

func wantFrames(t *testing.T, got []wire.Publish, want ...sentFrame) {
	t.Helper()
	if g := summarize(got); !slices.Equal(g, want) {
		t.Fatalf("frames %v, want %v", g, want)
	}
}

func wantResolutions(t *testing.T, p *Publisher, want ...Resolution) {
	t.Helper()
	got := p.Resolutions()
	if len(got) != len(want) {
		t.Fatalf("resolutions %+v, want %+v", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.Outcome != w.Outcome || g.Code != w.Code || g.Reason != w.Reason ||
			(w.Sends != 0 && g.Sends != w.Sends) {
			t.Fatalf("resolution %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestPublisherSendsInOrderWithFieldsAndConfirmsRange(t *testing.T) {
	p := newPub(t, PublisherConfig{}, "a", "b", "c")
	fs := p.Poll(t0)
	wantFrames(t, fs, sentFrame{1, "a"}, sentFrame{2, "b"}, sentFrame{3, "c"})
	f := fs[1]
	if string(f.Exchange) != "ex" || string(f.RoutingKey) != "rk" || string(f.Body) != "body-b" {
		t.Fatalf("frame fields %q %q %q", f.Exchange, f.RoutingKey, f.Body)
	}
	if n := p.HandleConfirm(wire.Confirm{First: 1, Last: 3}); n != 3 {
		t.Fatalf("confirm resolved %d, want 3", n)
	}
	wantResolutions(t, p,
		Resolution{ID: "a", Outcome: Confirmed, Sends: 1},
		Resolution{ID: "b", Outcome: Confirmed, Sends: 1},
		Resolution{ID: "c", Outcome: Confirmed, Sends: 1})
	if p.Pending() != 0 || p.InFlight() != 0 {
		t.Fatalf("pending %d in flight %d after all confirmed", p.Pending(), p.InFlight())
	}
	if got := p.Resolutions(); len(got) != 0 {
		t.Fatalf("second Resolutions returned %v; they must be handed out once", got)
	}
	if _, ok := p.NextDeadline(); ok {
		t.Fatal("a deadline remains with nothing in flight")
	}
}

func TestPublisherWindowLimitsInFlight(t *testing.T) {
	p := newPub(t, PublisherConfig{Window: 2}, "a", "b", "c", "d", "e")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"}, sentFrame{2, "b"})
	wantFrames(t, p.Poll(t0))
	if p.InFlight() != 2 {
		t.Fatalf("in flight %d, want 2", p.InFlight())
	}
	p.HandleConfirm(wire.Confirm{First: 2, Last: 2})
	wantFrames(t, p.Poll(t0), sentFrame{3, "c"})
	p.HandleConfirmDup(wire.ConfirmDup{Seq: 1})
	p.HandleNack(wire.Nack{Seq: 3, Code: 300, Reason: "no route"})
	wantFrames(t, p.Poll(t0), sentFrame{4, "d"}, sentFrame{5, "e"})
	wantResolutions(t, p,
		Resolution{ID: "b", Outcome: Confirmed},
		Resolution{ID: "a", Outcome: Duplicate},
		Resolution{ID: "c", Outcome: Refused, Code: 300, Reason: "no route"})
}

func TestPublisherHoldsMessagesWhileDisconnected(t *testing.T) {
	p := NewPublisher(PublisherConfig{})
	if err := p.Add(msg("a")); err != nil {
		t.Fatal(err)
	}
	wantFrames(t, p.Poll(t0))
	if p.IsConnected() {
		t.Fatal("connected before Connected")
	}
	p.Connected(t0)
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"})
}

func TestPublisherResendsAfterConfirmTimeoutWithBackoff(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second, MaxConfirmTimeout: 3 * time.Second}, "a")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"})
	if d, ok := p.NextDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v %v, want t0+1s", d, ok)
	}
	wantFrames(t, p.Poll(t0.Add(999*time.Millisecond)))
	t1 := t0.Add(time.Second)
	wantFrames(t, p.Poll(t1), sentFrame{2, "a"})
	if d, _ := p.NextDeadline(); !d.Equal(t1.Add(2 * time.Second)) {
		t.Fatalf("second deadline %v, want t1+2s (doubled)", d)
	}
	t2 := t1.Add(2 * time.Second)
	wantFrames(t, p.Poll(t2), sentFrame{3, "a"})
	if d, _ := p.NextDeadline(); !d.Equal(t2.Add(3 * time.Second)) {
		t.Fatalf("third deadline %v, want t2+3s (capped)", d)
	}
	if p.InFlight() != 1 {
		t.Fatalf("in flight %d: a resend must not take another window slot", p.InFlight())
	}
	// A late confirm of the first attempt settles the message.
	p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed, Sends: 3})
	// The later attempts' answers are stale.
	if n := p.HandleConfirm(wire.Confirm{First: 2, Last: 2}); n != 0 {
		t.Fatalf("stale confirm resolved %d", n)
	}
	if p.HandleConfirmDup(wire.ConfirmDup{Seq: 3}) {
		t.Fatal("stale dup resolved something")
	}
	wantResolutions(t, p)
	s := p.Stats()
	if s.Sent != 3 || s.Resent != 2 || s.Timeouts != 2 || s.Confirmed != 1 || s.Stale != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPublisherResendsPreferOverdueThenWaiting(t *testing.T) {
	p := newPub(t, PublisherConfig{Window: 2, ConfirmTimeout: time.Second}, "a", "b", "c")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"}, sentFrame{2, "b"})
	p.HandleConfirm(wire.Confirm{First: 2, Last: 2})
	// At the deadline, a is resent first, then c fills the freed slot.
	wantFrames(t, p.Poll(t0.Add(time.Second)), sentFrame{3, "a"}, sentFrame{4, "c"})
}

func TestPublisherReconnectResendsUnconfirmedWithSameIDs(t *testing.T) {
	p := newPub(t, PublisherConfig{Window: 3}, "a", "b", "c", "d")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"}, sentFrame{2, "b"}, sentFrame{3, "c"})
	p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	p.Disconnected(t0)
	wantFrames(t, p.Poll(t0)) // nothing while disconnected
	if err := p.Add(msg("e")); err != nil {
		t.Fatal(err)
	}
	p.Connected(t0.Add(time.Second))
	// Sequence numbers restart at 1; the old in-flight messages go first in
	// add order, and the window counts them again.
	wantFrames(t, p.Poll(t0.Add(time.Second)), sentFrame{1, "b"}, sentFrame{2, "c"}, sentFrame{3, "d"})
	p.HandleConfirmDup(wire.ConfirmDup{Seq: 1})
	p.HandleConfirm(wire.Confirm{First: 2, Last: 3})
	wantFrames(t, p.Poll(t0.Add(time.Second)), sentFrame{4, "e"})
	wantResolutions(t, p,
		Resolution{ID: "a", Outcome: Confirmed, Sends: 1},
		Resolution{ID: "b", Outcome: Duplicate, Sends: 2},
		Resolution{ID: "c", Outcome: Confirmed, Sends: 2},
		Resolution{ID: "d", Outcome: Confirmed, Sends: 1})
	if s := p.Stats(); s.Connections != 2 {
		t.Fatalf("connections %d, want 2", s.Connections)
	}
}

func TestPublisherConnectedTwiceStartsAFreshConnection(t *testing.T) {
	p := newPub(t, PublisherConfig{}, "a")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"})
	p.Connected(t0)
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"})
}

func TestPublisherIgnoresAnswersItDoesNotKnow(t *testing.T) {
	tests := []struct {
		name  string
		apply func(p *Publisher) bool
	}{
		{"confirm of an unsent seq", func(p *Publisher) bool { return p.HandleConfirm(wire.Confirm{First: 5, Last: 9}) > 0 }},
		{"confirm with seq 0", func(p *Publisher) bool { return p.HandleConfirm(wire.Confirm{First: 0, Last: 1}) > 0 }},
		{"confirm with first > last", func(p *Publisher) bool { return p.HandleConfirm(wire.Confirm{First: 2, Last: 1}) > 0 }},
		{"dup of an unsent seq", func(p *Publisher) bool { return p.HandleConfirmDup(wire.ConfirmDup{Seq: 7}) }},
		{"nack of an unsent seq", func(p *Publisher) bool { return p.HandleNack(wire.Nack{Seq: 7, Code: 300}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPub(t, PublisherConfig{}, "a")
			p.Poll(t0)
			if tc.apply(p) {
				t.Fatal("resolved a message")
			}
			if p.Pending() != 1 || p.Stats().Stale != 1 {
				t.Fatalf("pending %d stale %d, want 1 and 1", p.Pending(), p.Stats().Stale)
			}
			wantResolutions(t, p)
		})
	}
}

func TestPublisherHostileConfirmRangeResolvesOnlyInFlight(t *testing.T) {
	p := newPub(t, PublisherConfig{Window: 2}, "a", "b", "c")
	p.Poll(t0)
	if n := p.HandleConfirm(wire.Confirm{First: 1, Last: math.MaxUint64}); n != 2 {
		t.Fatalf("resolved %d, want the 2 in flight", n)
	}
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed}, Resolution{ID: "b", Outcome: Confirmed})
	if !p.IsPending("c") {
		t.Fatal("c was never sent but is no longer pending")
	}
}

func TestPublisherConfirmRangeCoveringTwoAttemptsResolvesOnce(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second}, "a")
	p.Poll(t0)
	p.Poll(t0.Add(time.Second)) // resend as seq 2
	if n := p.HandleConfirm(wire.Confirm{First: 1, Last: 2}); n != 1 {
		t.Fatalf("resolved %d, want 1", n)
	}
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed, Sends: 2})
}

func TestPublisherRetryCodesKeepMessagePending(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second, RetryCodes: []uint16{502}}, "a", "b")
	p.Poll(t0)
	if p.HandleNack(wire.Nack{Seq: 1, Code: 502, Reason: "shutting down"}) {
		t.Fatal("a retryable nack resolved the message")
	}
	p.HandleNack(wire.Nack{Seq: 2, Code: 301, Reason: "queue full"})
	wantResolutions(t, p, Resolution{ID: "b", Outcome: Refused, Code: 301, Reason: "queue full"})
	wantFrames(t, p.Poll(t0.Add(time.Second)), sentFrame{3, "a"})
	p.HandleConfirm(wire.Confirm{First: 3, Last: 3})
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed, Sends: 2})
	if s := p.Stats(); s.RetryNacks != 1 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPublisherAddRejectsBadIDs(t *testing.T) {
	p := newPub(t, PublisherConfig{}, "a")
	if err := p.Add(Message{}); !errors.Is(err, ErrEmptyID) {
		t.Fatalf("empty id: %v, want ErrEmptyID", err)
	}
	if err := p.Add(msg("a")); !errors.Is(err, ErrAlreadyPending) {
		t.Fatalf("pending id: %v, want ErrAlreadyPending", err)
	}
	p.Poll(t0)
	p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	if err := p.Add(msg("a")); err != nil {
		t.Fatalf("re-adding a resolved id: %v", err)
	}
	if p.Stats().Added != 2 {
		t.Fatalf("added %d, want 2 (failed adds do not count)", p.Stats().Added)
	}
}

func TestPublisherJitterComesOnlyFromItsRand(t *testing.T) {
	deadlines := func(seed uint64) []time.Time {
		p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second, Rand: rand.New(rand.NewPCG(seed, 1))}, "a")
		var ds []time.Time
		now := t0
		for range 5 {
			p.Poll(now)
			d, _ := p.NextDeadline()
			ds = append(ds, d)
			now = d
		}
		return ds
	}
	a, b, c := deadlines(1), deadlines(1), deadlines(2)
	if !slices.EqualFunc(a, b, time.Time.Equal) {
		t.Fatalf("same seed, different deadlines: %v vs %v", a, b)
	}
	if slices.EqualFunc(a, c, time.Time.Equal) {
		t.Fatalf("different seeds, same deadlines %v: jitter unused", a)
	}
	prev := t0
	for i, d := range a {
		base := time.Second << i
		if gap := d.Sub(prev); gap < base || gap >= base+base/5 {
			t.Fatalf("attempt %d waited %v, want [%v, %v)", i+1, gap, base, base+base/5)
		}
		prev = d
	}
}

func TestPublisherResolveWhileOverdueDoesNotResend(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second}, "a")
	p.Poll(t0)
	p.Tick(t0.Add(time.Second)) // overdue, queued for resend
	p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	wantFrames(t, p.Poll(t0.Add(time.Second)))
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed, Sends: 1})
}

func TestPublisherDisconnectWhileOverdueResendsOnceAfterReconnect(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second}, "a", "b")
	p.Poll(t0)
	p.Tick(t0.Add(time.Second))
	p.Disconnected(t0.Add(time.Second))
	p.Connected(t0.Add(2 * time.Second))
	wantFrames(t, p.Poll(t0.Add(2*time.Second)), sentFrame{1, "a"}, sentFrame{2, "b"})
	wantFrames(t, p.Poll(t0.Add(2*time.Second)))
}
