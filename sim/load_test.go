package sim

import (
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestHostileLoadOffKeepsRuns: a seed that does not draw the hostile-load
// node runs exactly as without it (same trace hash), and LoadOff (the
// default) never has it; a seed that draws it has it, and changes.
func TestHostileLoadOffKeepsRuns(t *testing.T) {
	drawn := 0
	for seed := uint64(1); seed <= 30; seed++ {
		off := Run(Config{Seed: seed, Swarm: true})
		sw := Run(Config{Seed: seed, Swarm: true, HostileLoad: LoadSwarm})
		if off.Load {
			t.Fatalf("seed %d: the default config ran a hostile-load node", seed)
		}
		if sw.Load != loadDrawn(seed) {
			t.Fatalf("seed %d: Load %v, drawn %v", seed, sw.Load, loadDrawn(seed))
		}
		if sw.Load {
			drawn++
			if sw.TraceHash == off.TraceHash {
				t.Errorf("seed %d: the hostile-load node left no trace", seed)
			}
			continue
		}
		if sw.TraceHash != off.TraceHash {
			t.Errorf("seed %d: not drawn, but the trace hash changed", seed)
		}
	}
	if drawn == 0 || drawn == 30 {
		t.Fatalf("%d of 30 seeds drew the node (fraction %v)", drawn, LoadFraction)
	}
}

// TestHostileLoadSweep runs swarm seeds with the node forced on: the honest
// clients' invariants hold, no command of the node costs more than its
// bound, and every attack of the catalogue ran somewhere.
func TestHostileLoadSweep(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 12
	}
	res := Sweep(SweepConfig{Template: Config{Swarm: true, HostileLoad: LoadOn}, First: 1, Seeds: n, Workers: 2})
	for _, f := range res.Failures {
		t.Errorf("%s", f.Describe())
	}
	if res.LoadRuns != uint64(n) {
		t.Fatalf("%d of %d runs had the node", res.LoadRuns, n)
	}
	t.Logf("%d seeds: %s", n, res.Load)
	if missing := res.Coverage.Missing(); len(missing) > 0 && !testing.Short() {
		t.Errorf("never happened in %d seeds: %v", n, missing)
	}
	if res.Load.Metered == 0 || res.Load.MaxTopicStates == 0 || res.Load.MaxWork == 0 {
		t.Fatalf("the meter saw nothing: %s", res.Load)
	}
	// Not vacuous: a close of a connection with 100 or more consumers was
	// metered at one step per consumer (at least), within its bound.
	if !testing.Short() && res.Load.MaxWork < 100 {
		t.Fatalf("the largest metered teardown did %d steps: the meter misses the close: %s", res.Load.MaxWork, res.Load)
	}
}

func TestHostileLoadDeterministic(t *testing.T) {
	a := Run(Config{Seed: 7, Swarm: true, HostileLoad: LoadOn})
	b := Run(Config{Seed: 7, Swarm: true, HostileLoad: LoadOn})
	if a.TraceHash != b.TraceHash || !a.Load {
		t.Fatalf("trace hashes %s and %s (load %v)", short(a.TraceHash), short(b.TraceHash), a.Load)
	}
	auth := Run(Config{Seed: 7, Swarm: true, HostileLoad: LoadOn, Auth: true})
	if !auth.OK() || auth.LoadStats.Metered == 0 {
		t.Fatalf("authenticated: %s; %s", auth.Summary(), auth.LoadStats)
	}
}

// TestNormalizeTopicMatchesTheCore: the meter uses the core's normalisation
// (broker/topic.go's examples), which the trie-node bound relies on.
func TestNormalizeTopicMatchesTheCore(t *testing.T) {
	for in, want := range map[string]string{
		"#.#": "#", "#.*.#.*": "*.*.#", "a.#.*.b.*": "a.*.#.b.*", "a": "a", "#.*.k1": "*.#.k1",
	} {
		if got := strings.Join(broker.NormalizeTopicPattern(in), "."); got != want {
			t.Errorf("NormalizeTopicPattern(%q) = %q, want %q", in, got, want)
		}
	}
	var p loadPatterns
	p.add("#.*.#.*.k0")
	p.add("*.#.*.#.k1") // the same wildcard run: shares its three nodes
	if got := p.nodes(); got != 1+3+2 {
		t.Fatalf("nodes = %d, want 6", got)
	}
}

// TestLoadBoundsAndViolation: the bounds come from the command's own input,
// and a command over its bound fails the run naming the command.
func TestLoadBoundsAndViolation(t *testing.T) {
	var p loadPatterns
	p.add("#.*.k0")
	m := &loadMeter{}
	key := strings.Repeat("a.", 9) + "k0" // 10 words
	pub := wire.AppendPublish(nil, &wire.Publish{Seq: 1, Exchange: []byte(loadTopic), RoutingKey: []byte(key), MessageID: []byte("x"), Body: []byte("b")})
	typ, payload, _, err := wire.SplitFrame(pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w, s, what := boundFor(typ, payload, m, &p); w != simTeardownStep || s != 11*4 || !strings.Contains(what, "publish to l.topic") {
		t.Fatalf("topic publish bound: work %d, states %d (%s); want the teardown budget and (10+1)*4", w, s, what)
	}
	st := wire.AppendStats(nil, &wire.Stats{ReqID: 1})
	typ, payload, _, _ = wire.SplitFrame(st, 0)
	if w, _, _ := boundFor(typ, payload, m, &p); w != 2*(1000+1) {
		t.Fatalf("stats bound %d", w)
	}
	m.consumes, m.delivered = 3, 5
	// 3 consumers, and 5 copies at 2 steps plus 2 x 3 heap levels each.
	if got := m.closeBound(false); got != 3+5*(2+2*3) {
		t.Fatalf("close bound %d", got)
	}
	// Older teardowns pending: one more budget and sift path, but never
	// above one call's bound.
	if got := m.closeBound(true); got != boundCallWork {
		t.Fatalf("close bound with older teardowns %d, want %d", got, boundCallWork)
	}

	w := newWorld(1, nil)
	rs := &runState{w: w, load: &loadNode{}}
	b := &brokerNode{w: w, st: rs}
	b.judgeLoad("publish to l.topic", 0, 44, 0, 44)
	if len(rs.loadViolations) != 0 {
		t.Fatalf("at the bound: %v", rs.loadViolations)
	}
	b.judgeLoad("close of connection 9", 9, 0, 8, 0)
	if len(rs.loadViolations) != 1 || !strings.Contains(rs.loadViolations[0], "close of connection 9: work 9 (bound 8)") {
		t.Fatalf("violations %v", rs.loadViolations)
	}
	r := Result{Converged: true, LoadViolations: rs.loadViolations}
	if r.OK() || !strings.Contains(r.Summary(), "COMMAND COST BOUND EXCEEDED") {
		t.Fatalf("a violation does not fail the run: %s", r.Summary())
	}
	if rs.load.stats.Metered != 2 || rs.load.stats.MaxWork != 9 {
		t.Fatalf("stats %s", rs.load.stats)
	}
	if !slices.Equal(LoadSometimes(), []string{"load-topic-alternation", "load-fanout-many", "load-consumers-then-close",
		"load-stats-burst", "load-greedy-consumer", "load-flood"}) {
		t.Fatalf("sometimes %v", LoadSometimes())
	}
}
