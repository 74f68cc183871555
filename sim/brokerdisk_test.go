package sim

import "testing"

// TestBrokerCrashesInsideItsLogFsync: in durable swarm runs whose plan has
// disk faults the broker crashes inside its log's fsync, restores, and
// the run keeps every invariant; failed fsyncs (EIO) happen only with
// Config.BrokerFsyncErrors or on a seed that draws them.
func TestBrokerCrashesInsideItsLogFsync(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}})
		if res.Coverage.BrokerFsyncError != 0 && !fsyncErrorsDrawn(seed) {
			t.Fatalf("seed %d: %d failed fsyncs without BrokerFsyncErrors", seed, res.Coverage.BrokerFsyncError)
		}
		if res.Coverage.BrokerCrashInFsync == 0 {
			continue
		}
		if !res.OK() {
			t.Fatalf("seed %d: %s", seed, res.Summary())
		}
		if res.Stats.BrokerCrashes < res.Coverage.BrokerCrashInFsync {
			t.Fatalf("seed %d: %d crashes in fsync but %d broker crashes", seed, res.Coverage.BrokerCrashInFsync, res.Stats.BrokerCrashes)
		}
		on := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}, BrokerFsyncErrors: true})
		if on.Coverage.BrokerFsyncError == 0 {
			t.Fatalf("seed %d with BrokerFsyncErrors: no failed fsync among %d disk faults", seed, on.Coverage.BrokerCrashInFsync)
		}
		return
	}
	t.Fatal("no durable swarm seed of 1..40 crashed the broker inside an fsync")
}

// TestSwarmDrawsFsyncErrors: the swarm turns failed fsyncs on for about
// FsyncErrorFraction of its seeds, and durable seeds that draw them do
// fail fsyncs.
func TestSwarmDrawsFsyncErrors(t *testing.T) {
	drawn, failed := 0, uint64(0)
	for seed := uint64(1); seed <= 40; seed++ {
		if !fsyncErrorsDrawn(seed) {
			continue
		}
		drawn++
		if failed == 0 {
			if res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}}); res.Coverage.BrokerFsyncError > 0 {
				failed = seed
			}
		}
	}
	if drawn < 10 || drawn > 30 {
		t.Fatalf("%d of 40 seeds drew failed fsyncs: want about %.0f%%", drawn, FsyncErrorFraction*100)
	}
	if failed == 0 {
		t.Fatal("no durable seed of 1..40 that drew failed fsyncs failed one")
	}
}

// TestBrokerFsyncErrorsKeepTheInvariants: a failed fsync of the broker's
// log must not break a promise either. (It once did: Core.StorageFailed
// refused the publishes waiting for the fsync although they were enqueued
// and, on seed 21, already processed; now it leaves them unanswered and
// the broker closes their connections, see Core.StorageFailed.)
func TestBrokerFsyncErrorsKeepTheInvariants(t *testing.T) {
	var failed uint64
	for seed := uint64(1); seed <= 100; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}, BrokerFsyncErrors: true})
		if !res.OK() {
			t.Fatalf("seed %d: %s", seed, res.Summary())
		}
		failed += res.Coverage.BrokerFsyncError
	}
	if failed == 0 {
		t.Fatal("no failed fsync in 100 seeds: the test exercised nothing")
	}
	t.Logf("%d failed fsyncs in 100 seeds", failed)
}
