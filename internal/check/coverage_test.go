package check

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestCoverageMissingAndMerge(t *testing.T) {
	batch := NewCoverage(StandardSometimes()...)
	if got := batch.Missing(); !slices.Equal(got, StandardSometimes()) {
		t.Fatalf("fresh counter missing %v", got)
	}
	if batch.Err() == nil {
		t.Fatal("Err is nil although nothing was reached")
	}
	seed1 := NewCoverage()
	seed1.Hit(SometimesRedelivery)
	seed1.Hit(SometimesRedelivery)
	seed1.Hit("custom-event")
	seed2 := NewCoverage()
	seed2.Add(SometimesDedupHit, 3)
	batch.Merge(seed1)
	batch.Merge(seed2)
	if batch.Count(SometimesRedelivery) != 2 || batch.Count(SometimesDedupHit) != 3 || batch.Count("custom-event") != 1 {
		t.Fatalf("counts: %s", batch)
	}
	want := []string{SometimesStaleAck, SometimesResend, SometimesDeadLetter, SometimesFsyncCrash}
	if got := batch.Missing(); !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	if err := batch.Err(); err == nil || !strings.Contains(err.Error(), SometimesStaleAck) {
		t.Fatalf("Err = %v", err)
	}
	for _, n := range want {
		batch.Hit(n)
	}
	if len(batch.Missing()) != 0 || batch.Err() != nil {
		t.Fatalf("still missing %v", batch.Missing())
	}
	if !strings.HasPrefix(batch.String(), "redelivery=2 dedup-hit=3 ") || !strings.Contains(batch.String(), "custom-event=1") {
		t.Fatalf("String() = %q", batch)
	}
	data, err := json.Marshal(batch)
	if err != nil || !strings.Contains(string(data), `"redelivery":2`) {
		t.Fatalf("json %s %v", data, err)
	}
}

func TestCoverageConcurrentHits(t *testing.T) {
	c := NewCoverage(SometimesRedelivery)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 100 {
				c.Hit(SometimesRedelivery)
			}
		})
	}
	wg.Wait()
	if c.Count(SometimesRedelivery) != 1000 {
		t.Fatalf("count %d", c.Count(SometimesRedelivery))
	}
}

func TestCoverageObservesHistory(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q")
	w.h.Add(ConfirmedDuplicate(0, "p", "m1"))
	w.process("r", "q", "m1", false)
	c := NewCoverage(SometimesRedelivery, SometimesBrokerDedupHit)
	c.Observe(w.h)
	if got := c.Missing(); !slices.Equal(got, []string{SometimesRedelivery}) {
		t.Fatalf("missing %v", got)
	}
	w.process("r", "q", "m1", true)
	c.Observe(w.h)
	if len(c.Missing()) != 0 {
		t.Fatalf("missing %v", c.Missing())
	}
}
