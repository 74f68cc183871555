package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

// mutationSeeds is the fixed budget within which the checkers must catch
// each broken guarantee. Each mutation needs a particular weather (a
// redelivery, a disconnect with deliveries in flight, a crash inside an
// fsync); swarm seeds reach all of them well within this many.
const mutationSeeds = 60

// TestCheckersCatchEveryMutation proves that every checker can fail: each
// test-only switch breaks one guarantee, and some seed of the batch must be
// reported with the anomaly that guarantee prevents. The same seeds without
// a mutation pass (TestSwarmSweep runs them), so the finding is the
// mutation's.
func TestCheckersCatchEveryMutation(t *testing.T) {
	cases := []struct {
		name   string
		mut    Mutations
		caught func(Result) bool
	}{
		{"receiver dedup off", Mutations{ReceiverNoDedup: true},
			func(r Result) bool { return len(r.Report.Duplicated) > 0 }},
		{"broker dedup off", Mutations{BrokerNoDedup: true},
			func(r Result) bool { return len(r.EnqueuedTwice) > 0 }},
		{"no requeue on disconnect", Mutations{NoRequeueOnDisconnect: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		{"confirm before enqueue", Mutations{ConfirmBeforeEnqueue: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		{"ack before fsync", Mutations{AckBeforeFsync: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		{"prefetch ignored", Mutations{PrefetchIgnored: true},
			func(r Result) bool { return len(r.PrefetchExceeded) > 0 }},
		{"prefix id reused", Mutations{PrefixIDReuse: true},
			func(r Result) bool { return len(r.ProtocolViolations) > 0 }},
		{"prefix reference wrong", Mutations{PrefixRefWrong: true},
			func(r Result) bool { return len(r.RejectedIntact) > 0 }},
		// Only authenticated seeds (AuthFraction of the swarm) have a
		// hostile tenant whose denied publish the mutation lets through.
		{"publish permission skipped", Mutations{SkipPublishPermission: true},
			func(r Result) bool { return len(r.AccessViolations) > 0 }},
		// Delivery tags: a Multiple ack that settles beyond its tag acks
		// deliveries still on their way, lost when the connection drops
		// before they are stored.
		{"multiple ack beyond its tag", Mutations{AckMultipleOverreach: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		// Dead-lettering: the application rejects of the ack-style draws
		// (ackstyle.go) count as dead-lettered only once drained.
		{"dead letters dropped", Mutations{DeadLetterDrops: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
		// The client's own connection engine (engine.Conn, which the
		// library runs too) confirms one publish too many per Confirm.
		{"client confirm mapping off by one", Mutations{ConnConfirmOffByOne: true},
			func(r Result) bool { return len(r.Report.Lost) > 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= mutationSeeds; seed++ {
				res := Run(Config{Seed: seed, Swarm: true, Mutations: tc.mut})
				if tc.caught(res) {
					if res.OK() {
						t.Fatalf("seed %d: the anomaly was found but the run still counts as OK", seed)
					}
					t.Logf("caught at seed %d: %s", seed, res.Summary())
					return
				}
			}
			t.Fatalf("no seed of %d reported the mutation %q: the checker (or the fault weather) cannot see it", mutationSeeds, tc.name)
		})
	}
}

// TestCheckersCatchConfirmBeforeFsync: with durable queues, a broker that
// confirms before its log is fsynced loses confirmed messages when the
// machine loses power; the checker must report them lost (durable copies
// are never excused).
func TestCheckersCatchConfirmBeforeFsync(t *testing.T) {
	pl := Calm()
	pl.Name = "durable-broker-crashes"
	pl.Crashes.Broker = faults.CrashRule{MeanUptimeMs: 700, Downtime: faults.Uniform(1, 300)}
	// Receivers are away for most of the safety phase, so confirmed
	// messages wait in the queues when the broker loses power.
	pl.Crashes.Schedule = []faults.ScheduledCrash{{Node: "role:receiver", AtMs: 100, DowntimeMs: 7_000}}
	pl.Phases.HealAtMs = 8_000
	for seed := uint64(1); seed <= mutationSeeds; seed++ {
		res := Run(Config{Seed: seed, Plan: &pl, Workload: Workload{Durable: true},
			Mutations: Mutations{BrokerConfirmBeforeFsync: true}})
		if len(res.Report.Lost) > 0 {
			t.Logf("caught at seed %d: %s", seed, res.Summary())
			return
		}
	}
	t.Fatalf("no seed of %d lost a durable message confirmed before fsync", mutationSeeds)
}

// TestCheckersCatchDurableMutationsUnderDraws: the durable mutants are
// caught with the per-seed draws on (ack styles, chains, workload), now
// that the broker's log fsync can crash the broker (brokerdisk.go): a
// confirm released before the fsync, and a replay that stops one record
// short, both lose confirmed durable messages.
func TestCheckersCatchDurableMutationsUnderDraws(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  Mutations
	}{
		{"confirm before fsync", Mutations{BrokerConfirmBeforeFsync: true}},
		{"restore drops newest", Mutations{RestoreDropsNewest: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= mutationSeeds; seed++ {
				res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}, Mutations: tc.mut})
				if len(res.Report.Lost) > 0 {
					if res.OK() {
						t.Fatalf("seed %d: lost copies but the run counts as OK", seed)
					}
					t.Logf("caught at seed %d: %s", seed, res.Summary())
					return
				}
			}
			t.Fatalf("no durable swarm seed of %d lost a message under %q", mutationSeeds, tc.name)
		})
	}
}
