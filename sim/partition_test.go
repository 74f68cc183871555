package sim

import (
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

// foreverPlan cuts one direction between the broker and node for ever,
// from 300 ms on, over links of the given mode, with some loss on datagram
// links so the rest of the system has real work to do.
func foreverPlan(mode faults.LinkMode, from, to string) faults.Plan {
	pl := Calm()
	pl.Name = "forever-one-way"
	pl.Links.Default = faults.LinkFaults{Mode: mode, Delay: faults.Uniform(1, 20)}
	if mode == faults.LinkDatagram {
		pl.Links.Default.Drop = 0.05
		pl.Links.Default.Duplicate = 0.05
	}
	pl.Partitions = []faults.Partition{{Name: "forever", Mode: faults.OneWay,
		From: []string{from}, To: []string{to}, StartMs: 300, Forever: true}}
	pl.Phases.HealAtMs = 4_000
	return pl
}

// TestOneWayPartitionForeverTheRestProgresses: one link stays cut in one
// direction for ever. The node behind it is outside the liveness core; every
// other publisher must resolve every publish and every other queue must be
// fully processed, exactly once.
func TestOneWayPartitionForeverTheRestProgresses(t *testing.T) {
	for _, mode := range []faults.LinkMode{faults.LinkTCP, faults.LinkDatagram} {
		for _, cut := range []struct{ from, to, outside string }{
			{"role:broker", "role:receiver#0", "r0"},  // r0 hears nothing
			{"role:receiver#0", "role:broker", "r0"},  // r0's acks and consumes vanish
			{"role:broker", "role:publisher#0", "p0"}, // p0's confirms vanish
			{"role:publisher#0", "role:broker", "p0"}, // p0's publishes vanish
		} {
			name := fmt.Sprintf("%s/%s->%s", mode, cut.from, cut.to)
			t.Run(name, func(t *testing.T) {
				pl := foreverPlan(mode, cut.from, cut.to)
				res := Run(Config{Seed: 11, Plan: &pl, Workload: Workload{PoisonRate: -1}})
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if !res.OK() {
					t.Fatalf("%s\n%s", res.Summary(), replayHint(11))
				}
				if !res.Converged {
					t.Fatalf("the core did not converge within the liveness bound: %s", res.Summary())
				}
				switch cut.outside {
				case "r0":
					if len(res.Options.ExemptQueues) != 1 || res.Options.ExemptQueues[0] != "q0" {
						t.Fatalf("exempt queues %v, want [q0]", res.Options.ExemptQueues)
					}
					if len(res.Report.Stranded) == 0 {
						t.Fatal("nothing stranded behind a receiver cut off for ever")
					}
				case "p0":
					if len(res.Options.ExemptPublishers) != 1 || res.Options.ExemptPublishers[0] != "p0" {
						t.Fatalf("exempt publishers %v, want [p0]", res.Options.ExemptPublishers)
					}
				}
				// The rest made progress: every copy for the core was processed.
				c := res.Report.Counts
				if c.OK == 0 {
					t.Fatalf("nothing processed: %s", res.Summary())
				}
				for _, a := range res.Report.Stranded {
					if a.Queue != "" && a.Queue != "q0" {
						t.Fatalf("a copy for queue %s is stranded, but only q0 is behind the cut", a.Queue)
					}
				}
				t.Logf("%s", res.Summary())
			})
		}
	}
}
