package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Overdue messages are resent in add order, whatever their deadlines: when
// the first attempts were refused (queue full) and the resends accepted,
// the queue then holds them in publish order (I5).
func TestPublisherResendsOverdueMessagesInAddOrder(t *testing.T) {
	p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second, MaxConfirmTimeout: 10 * time.Second}, "a")
	wantFrames(t, p.Poll(t0), sentFrame{1, "a"})
	// a times out once: its next timeout is doubled (due at t0+3s).
	wantFrames(t, p.Poll(t0.Add(time.Second)), sentFrame{2, "a"})
	if err := p.Add(msg("b")); err != nil {
		t.Fatal(err)
	}
	// b goes out later but falls due earlier (t0+2.5s).
	wantFrames(t, p.Poll(t0.Add(1500*time.Millisecond)), sentFrame{3, "b"})
	if err := p.Add(msg("c")); err != nil {
		t.Fatal(err)
	}
	// At t0+3s both are overdue: a (added first) goes before b, and only
	// then the never-sent c.
	wantFrames(t, p.Poll(t0.Add(3*time.Second)), sentFrame{4, "a"}, sentFrame{5, "b"}, sentFrame{6, "c"})
	// The answers still find their messages.
	p.HandleConfirm(wire.Confirm{First: 4, Last: 6})
	wantResolutions(t, p, Resolution{ID: "a", Outcome: Confirmed, Sends: 3},
		Resolution{ID: "b", Outcome: Confirmed, Sends: 2}, Resolution{ID: "c", Outcome: Confirmed, Sends: 1})
}

// With jitter, messages sent together fall due in random order; over many
// draws, every batch of resends still goes out in add order.
func TestPublisherJitteredResendsKeepAddOrder(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		p := newPub(t, PublisherConfig{ConfirmTimeout: time.Second, Jitter: 0.5, Rand: rng}, "a", "b", "c", "d", "e")
		p.Poll(t0)
		now := t0
		for round := 0; round < 4; round++ {
			now = now.Add(1500 * time.Millisecond)
			fs := p.Poll(now)
			for i := 1; i < len(fs); i++ {
				if string(fs[i-1].MessageID) > string(fs[i].MessageID) {
					t.Fatalf("seed %d round %d: resends %v not in add order", seed, round, summarize(fs))
				}
			}
		}
		if p.Stats().Resent == 0 {
			t.Fatalf("seed %d: nothing was resent", seed)
		}
	}
}
