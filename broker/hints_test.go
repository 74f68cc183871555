package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPublishHintsNeverChangeOutcomes feeds two cores the same publishes,
// repeats among them, one core with hints: right ones, ones out of order,
// ones for publishes that never come and ones for another user. Their
// effects must be identical, publish by publish.
func TestPublishHintsNeverChangeOutcomes(t *testing.T) {
	plain, hinted := xqk(t, Config{NoDefaults: true}), xqk(t, Config{NoDefaults: true})
	rng := rand.New(rand.NewPCG(7, 9))
	id := func() []byte { return fmt.Appendf(nil, "m-%d", rng.IntN(300)) } // repeats happen
	var seq uint64
	var dups uint64
	for round := range 400 {
		pubs := make([]Publish, 1+rng.IntN(16))
		for i := range pubs {
			ex := "x"
			if rng.IntN(20) == 0 {
				ex = "missing" // refused before the dedup lookup
			}
			pubs[i] = Publish{User: "u", Exchange: []byte(ex), RoutingKey: []byte("k"), MessageID: id(), Body: []byte("b")}
		}
		var hints []PublishHint
		for _, p := range pubs {
			hints = append(hints, PublishHint{Exchange: p.Exchange, MessageID: p.MessageID})
		}
		switch round % 4 {
		case 1: // out of order
			rng.Shuffle(len(hints), func(i, j int) { hints[i], hints[j] = hints[j], hints[i] })
		case 2: // for publishes that never come
			for i := range hints {
				hints[i].MessageID = id()
			}
		case 3: // right ids, wrong user
			hinted.PrefetchPublishes("someone-else", hints)
			hints = nil
		}
		if hints != nil {
			hinted.PrefetchPublishes("u", hints)
		}
		for i := range pubs {
			seq++
			pubs[i].Seq = seq
			plain.Publish(1, &pubs[i], t0)
			hinted.Publish(1, &pubs[i], t0)
			want, got := describe(plain.Drain()), describe(hinted.Drain())
			if got != want {
				t.Fatalf("round %d, publish %q: effects with hints %s, without %s", round, pubs[i].MessageID, got, want)
			}
		}
		dups = plain.duplicates
	}
	if dups == 0 {
		t.Fatal("no publish was a duplicate: the test did not exercise the dedup lookup")
	}
}

// xqk returns a core with direct exchange x bound to queue q by key k and
// connection 1 open.
func xqk(t testing.TB, cfg Config) *Core {
	t.Helper()
	c := New(cfg)
	if err := c.DeclareExchange("x", Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue("q", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind("x", "q", "k"); err != nil {
		t.Fatal(err)
	}
	c.Open(1, t0)
	return c
}
