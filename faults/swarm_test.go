package faults

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestSwarmIsDeterministicPerSeed(t *testing.T) {
	for seed := range uint64(50) {
		a := Swarm(rand.New(rand.NewPCG(seed, 99)))
		b := Swarm(rand.New(rand.NewPCG(seed, 99)))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d gave two different plans", seed)
		}
	}
}

func TestSwarmVariesAcrossSeedsAndIsValid(t *testing.T) {
	const seeds = 500
	weathers := map[string]int{}
	features := map[string]int{}
	var maxDrop, maxDup, maxReorder float64
	for seed := range uint64(seeds) {
		pl := Swarm(rand.New(rand.NewPCG(seed, 0)))
		if err := pl.Validate(); err != nil {
			t.Fatalf("seed %d: swarm plan invalid: %v", seed, err)
		}
		on := pl.Enabled()
		weathers[strings.Join(on, ",")]++
		for _, f := range on {
			features[f]++
		}
		maxDrop = max(maxDrop, pl.Links.Default.Drop)
		maxDup = max(maxDup, pl.Links.Default.Duplicate)
		maxReorder = max(maxReorder, pl.Links.Default.Reorder)
	}
	if len(weathers) < seeds/5 {
		t.Errorf("only %d distinct fault mixes in %d seeds", len(weathers), seeds)
	}
	for _, f := range []string{"drop", "duplicate", "reorder", "delay", "disconnect", "datagram",
		"partition", "forever-partition", "random-partition", "publisher-crash", "receiver-crash",
		"broker-crash", "scheduled-crash", "fsync-crash"} {
		n := features[f]
		if n == 0 || n == seeds {
			t.Errorf("fault %q on in %d of %d seeds: swarm must sometimes turn it on and sometimes off", f, n, seeds)
		}
	}
	if maxDrop > 0.3 || maxDup > 0.5 || maxReorder > 0.3 {
		t.Errorf("strengths out of range: drop %.2f dup %.2f reorder %.2f", maxDrop, maxDup, maxReorder)
	}
	if maxDrop < 0.2 || maxDup < 0.35 || maxReorder < 0.2 {
		t.Errorf("strengths never get strong: drop %.2f dup %.2f reorder %.2f", maxDrop, maxDup, maxReorder)
	}
}

func TestSwarmForeverPartitionsLeaveACore(t *testing.T) {
	for seed := range uint64(2000) {
		pl := Swarm(rand.New(rand.NewPCG(seed, 1)))
		for _, pt := range pl.Partitions {
			if !pt.Forever {
				continue
			}
			for _, s := range append(append([]string{}, pt.From...), pt.To...) {
				if s == "role:publisher" || s == "role:receiver" {
					t.Fatalf("seed %d: forever partition cuts a whole role (%v)", seed, pt)
				}
			}
		}
	}
}

func TestGenProducesValidPlans(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pl := Gen().Draw(t, "plan")
		if err := pl.Validate(); err != nil {
			t.Fatalf("generated plan invalid: %v", err)
		}
		data, err := pl.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := Parse(data)
		if err != nil || !reflect.DeepEqual(back, pl) {
			t.Fatalf("generated plan does not round trip: %v", err)
		}
	})
}

// A property that fails whenever drop is on must shrink to a plan with drop
// and nothing else: that is what lets a failing swarm run be debugged.
func TestGenShrinksToTheFaultThatMatters(t *testing.T) {
	// The expected failure writes a rapid fail file: keep it out of testdata.
	t.Chdir(t.TempDir())
	var minimal Plan
	failed := false
	fake := &recordingT{TB: t}
	rapid.Check(fake, func(rt *rapid.T) {
		pl := Gen().Draw(rt, "plan")
		if pl.Links.Default.Drop > 0 {
			minimal, failed = pl, true
			rt.Fatalf("drop is on")
		}
	})
	if !failed || !fake.failed {
		t.Fatalf("property never failed: Gen never turns drop on")
	}
	on := minimal.Enabled()
	if strings.Join(on, ",") != "drop,datagram" {
		t.Errorf("shrunk plan still has %v, want only drop (on a datagram link)", on)
	}
}

// recordingT lets a test run rapid.Check expecting a failure without failing
// itself.
type recordingT struct {
	testing.TB
	failed bool
}

func (r *recordingT) Helper()               {}
func (r *recordingT) Name() string          { return r.TB.Name() }
func (r *recordingT) Logf(string, ...any)   {}
func (r *recordingT) Log(...any)            {}
func (r *recordingT) Error(...any)          { r.failed = true }
func (r *recordingT) Errorf(string, ...any) { r.failed = true }
func (r *recordingT) Fatal(...any)          { r.failed = true }
func (r *recordingT) Fatalf(string, ...any) { r.failed = true }
func (r *recordingT) Fail()                 { r.failed = true }
func (r *recordingT) FailNow()              { r.failed = true }
func (r *recordingT) Failed() bool          { return r.failed }
