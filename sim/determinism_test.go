package sim

import (
	"bytes"
	"testing"
)

// determinismSeeds is the batch replayed twice. Fifty swarm seeds cover
// datagram and TCP links, partitions and crashes of every role.
const determinismSeeds = 50

func TestSameSeedSameTraceHash(t *testing.T) {
	first := make([]string, batch(determinismSeeds))
	for i := range first {
		first[i] = Run(Config{Seed: uint64(i + 1), Swarm: true}).TraceHash
	}
	for i := range first {
		again := Run(Config{Seed: uint64(i + 1), Swarm: true})
		if again.TraceHash != first[i] {
			t.Errorf("seed %d: trace hash %s then %s: the run is not deterministic; diff two --trace outputs of this seed",
				i+1, first[i][:16], again.TraceHash[:16])
		}
	}
	distinct := map[string]bool{}
	for _, h := range first {
		distinct[h] = true
	}
	if len(distinct) != len(first) {
		t.Fatalf("%d seeds gave only %d distinct trace hashes: different seeds must make different runs", len(first), len(distinct))
	}
}

func TestTraceOutputMatchesTheHash(t *testing.T) {
	var a, b bytes.Buffer
	ra := Run(Config{Seed: 42, Swarm: true, Trace: &a})
	rb := Run(Config{Seed: 42, Swarm: true, Trace: &b})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two traces of seed 42 differ")
	}
	if ra.TraceHash != rb.TraceHash || a.Len() == 0 {
		t.Fatal("trace hash differs or trace is empty")
	}
	if got := uint64(bytes.Count(a.Bytes(), []byte("\n"))); got != ra.TraceLines {
		t.Fatalf("trace has %d lines, result says %d", got, ra.TraceLines)
	}
	// Writing the trace must not change the run.
	if rc := Run(Config{Seed: 42, Swarm: true}); rc.TraceHash != ra.TraceHash {
		t.Fatal("the run with --trace differs from the run without")
	}
}

func TestPlanAndMutationChangeTheRun(t *testing.T) {
	calm := Calm()
	a := Run(Config{Seed: 5, Plan: &calm})
	b := Run(Config{Seed: 5, Swarm: true})
	if a.TraceHash == b.TraceHash {
		t.Fatal("a calm plan and a swarm plan of the same seed gave the same trace")
	}
}

func TestParallelSweepMatchesSequentialRuns(t *testing.T) {
	n := batch(24)
	sw := Sweep(SweepConfig{Template: Config{Swarm: true}, First: 100, Seeds: n, Workers: 4})
	if sw.Runs != n || len(sw.Hashes) != n {
		t.Fatalf("sweep ran %d, %d hashes; want %d", sw.Runs, len(sw.Hashes), n)
	}
	for i, h := range sw.Hashes {
		if got := Run(Config{Seed: 100 + uint64(i), Swarm: true}).TraceHash; got != h {
			t.Fatalf("seed %d: sweep hash %s, sequential %s", 100+i, short(h), short(got))
		}
	}
	for _, f := range sw.Failures {
		t.Errorf("%s", f.Describe())
	}
}
