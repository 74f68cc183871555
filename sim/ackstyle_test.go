package sim

import (
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
)

// TestAckStyleDraws: over many seeds every ack style and the dead-letter
// chain are drawn, each seed replays its draw, and FixedWorkload or a
// plan turns the draws off.
func TestAckStyleDraws(t *testing.T) {
	var single, nack, reject, timeout, chain int
	for seed := uint64(1); seed <= 400; seed++ {
		a, b := drawConfig(seed, queueNames(2)).acks, drawConfig(seed, queueNames(2)).acks
		if a != b {
			t.Fatalf("seed %d drew %+v, then %+v", seed, a, b)
		}
		for _, c := range []struct {
			on bool
			n  *int
		}{{a.single, &single}, {a.nack > 0, &nack}, {a.reject > 0, &reject}, {a.ackTimeout > 0, &timeout}, {a.chain, &chain}} {
			if c.on {
				*c.n++
			}
		}
	}
	for name, n := range map[string]int{"single": single, "nack": nack, "reject": reject, "ack timeout": timeout, "chain": chain} {
		if n == 0 {
			t.Errorf("no seed of 1..400 drew %s", name)
		}
	}
	seed := seedDrawing(t, func(a ackDraw) bool { return a.reject > 0 && a.chain })
	var tr strings.Builder
	res := Run(Config{Seed: seed, Swarm: true, Trace: &tr})
	if !strings.Contains(tr.String(), "sim acks") || res.Coverage.AppReject == 0 {
		t.Fatalf("seed %d drew rejects and a chain, but the trace has no acks line or no app reject happened (%d)", seed, res.Coverage.AppReject)
	}
	if !res.OK() {
		t.Fatalf("seed %d: %s", seed, res.Summary())
	}
	var fixed strings.Builder
	if res := Run(Config{Seed: seed, Swarm: true, FixedWorkload: true, Trace: &fixed}); strings.Contains(fixed.String(), "sim acks") ||
		res.Coverage.AppReject+res.Coverage.AppNack+res.Coverage.ChainReject != 0 {
		t.Fatalf("seed %d with FixedWorkload still drew an ack style", seed)
	}
}

// seedDrawing is the first seed whose ack draw satisfies want.
func seedDrawing(t *testing.T, want func(ackDraw) bool) uint64 {
	t.Helper()
	for s := uint64(1); s <= 1000; s++ {
		if want(drawConfig(s, queueNames(2)).acks) {
			return s
		}
	}
	t.Fatal("no seed of 1..1000 draws the wanted ack style")
	return 0
}

// TestAckStylesKeepTheCheckersSound: under each ack style that changes
// what is promised, a planted bug is still caught. An application reject
// promises "dead-lettered, not lost": a broker that drops dead letters
// fails I1 in the seeds that draw rejects. Nacks and single acks change
// how settlements travel: a broker that drops unacked deliveries on
// disconnect, and a receiver without dedup, are still caught there.
func TestAckStylesKeepTheCheckersSound(t *testing.T) {
	cases := []struct {
		name   string
		style  func(ackDraw) bool
		mut    Mutations
		caught func(Result) bool
	}{
		{"rejects: dead letters dropped", func(a ackDraw) bool { return a.reject > 0 }, Mutations{DeadLetterDrops: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		{"nacks: no requeue on disconnect", func(a ackDraw) bool { return a.nack > 0 }, Mutations{NoRequeueOnDisconnect: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		{"single acks: receiver dedup off", func(a ackDraw) bool { return a.single }, Mutations{ReceiverNoDedup: true},
			func(r Result) bool { return len(r.Report.Duplicated) > 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tried := 0
			for seed := uint64(1); seed <= 1000 && tried < 30; seed++ {
				if !tc.style(drawConfig(seed, queueNames(2)).acks) {
					continue
				}
				tried++
				res := Run(Config{Seed: seed, Swarm: true, Mutations: tc.mut})
				if !tc.caught(res) {
					continue
				}
				if res.OK() {
					t.Fatalf("seed %d: the anomaly was found but the run counts as OK", seed)
				}
				if clean := Run(Config{Seed: seed, Swarm: true}); !clean.OK() {
					t.Fatalf("seed %d fails without the mutation too: %s", seed, clean.Summary())
				}
				t.Logf("caught at seed %d: %s", seed, res.Summary())
				return
			}
			t.Fatalf("none of %d seeds drawing the style caught the planted bug", tried)
		})
	}
}

// TestOracleFollowsDeadLetterChains: with a chain, a copy that appears in
// the second dead-letter queue must come from the first in the same step;
// one that comes from nowhere is a finding.
func TestOracleFollowsDeadLetterChains(t *testing.T) {
	topo := newTopology(2, broker.QueueOptions{}, nil, nil)
	o := newEnqueueOracle(topo.model, topo.queues, false, broker.DefaultDedupWindow)
	o.chain()
	moved := heldKey{deadLetterChain, "p0-1"}
	o.deadLetter(moved, map[heldKey]int{{deadLetterQueue, "p0-1"}: 1}, map[heldKey]int{moved: 1}, 0)
	if len(o.misrouted) != 0 {
		t.Fatalf("a dead letter moved dlq -> dlq2 was judged misrouted: %v", o.misrouted)
	}
	o.deadLetter(moved, map[heldKey]int{}, map[heldKey]int{moved: 1}, 0)
	if len(o.misrouted) != 1 || !strings.Contains(o.misrouted[0], "no queue let it go") {
		t.Fatalf("a copy from nowhere in dlq2 was not reported: %v", o.misrouted)
	}
}
