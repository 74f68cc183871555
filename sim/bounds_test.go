package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/faults"
)

// boundedPlan keeps the receivers down for a while, so bounded queues fill
// and publishes must be refused explicitly (I6).
func boundedPlan(mode faults.LinkMode) faults.Plan {
	pl := Calm()
	pl.Name = "bounded-queues"
	pl.Links.Default = faults.LinkFaults{Mode: mode, Delay: faults.Uniform(1, 10)}
	if mode == faults.LinkDatagram {
		pl.Links.Default.Duplicate = 0.3
	}
	pl.Crashes.Schedule = []faults.ScheduledCrash{{Node: "role:receiver", AtMs: 200, DowntimeMs: 3_000}}
	pl.Phases.HealAtMs = 5_000
	return pl
}

func TestBoundedQueuesRefuseExplicitly(t *testing.T) {
	pl := boundedPlan(faults.LinkTCP)
	var refusedFull int
	for seed := uint64(1); seed <= uint64(batch(8)); seed++ {
		res := Run(Config{Seed: seed, Plan: &pl, Workload: Workload{MaxLength: 20, PoisonRate: -1}})
		if !res.OK() {
			t.Fatalf("%s", res.Describe())
		}
		refusedFull += res.Report.RefusedByCode[uint16(broker.CodeQueueFull)]
	}
	if refusedFull == 0 {
		t.Fatal("no publish was refused with CodeQueueFull: the queues never filled")
	}
}

func TestOverLimitFindingIsReported(t *testing.T) {
	qs := broker.QueueStats{Name: "q0", Ready: 15, Unacked: 6}
	if overLimit(qs, 21) != "" {
		t.Fatal("21 held within a limit of 21 reported")
	}
	if overLimit(qs, 20) == "" {
		t.Fatal("21 held above a limit of 20 not reported")
	}
	r := Result{Converged: true, OverLimit: []string{"x"}}
	if r.OK() {
		t.Fatal("a run with a queue over its bound counts as OK")
	}
}

// TestDuplicatedPublishAfterQueueFullIsNotEnqueued is the regression test
// of a broker issue the simulator found (seed 129 of the 200-seed swarm
// sweep with queues bounded to 120): on a link that duplicates and delays
// frames, a Publish refused with CodeQueueFull arrived a second time after
// the queue drained, and the broker enqueued the copy and confirmed the
// sequence number it had already nacked, so a message its publisher was told
// was refused got delivered ("unexpected": processed but refused). The
// session now ignores publish sequence numbers the connection has passed.
func TestDuplicatedPublishAfterQueueFullIsNotEnqueued(t *testing.T) {
	seeds := []uint64{129} // the seed that found it
	for s := uint64(1); s <= uint64(batch(100)); s++ {
		seeds = append(seeds, s)
	}
	for _, seed := range seeds {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{MaxLength: 120}})
		if !res.OK() {
			t.Fatalf("%s", res.Describe())
		}
	}
}

func TestOverBytesFindingIsReported(t *testing.T) {
	qs := broker.QueueStats{Name: "q0", Ready: 3, Unacked: 1, Bytes: 4096}
	if overBytes(qs, 4096) != "" {
		t.Fatal("4096 bytes within a bound of 4096 reported")
	}
	if overBytes(qs, 0) != "" {
		t.Fatal("a queue without a byte bound reported")
	}
	if overBytes(qs, 4095) == "" {
		t.Fatal("4096 bytes above a bound of 4095 not reported")
	}
}
