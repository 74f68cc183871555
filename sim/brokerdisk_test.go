package sim

import "testing"

// TestBrokerCrashesInsideItsLogFsync: in durable swarm runs whose plan has
// disk faults the broker crashes inside its log's fsync, restores, and
// the run keeps every invariant; failed fsyncs (EIO) happen only with
// Config.BrokerFsyncErrors.
func TestBrokerCrashesInsideItsLogFsync(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}})
		if res.Coverage.BrokerFsyncError != 0 {
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

// TestBrokerFsyncErrorsKeepTheInvariants: a failed fsync of the broker's
// log must not break a promise either.
func TestBrokerFsyncErrorsKeepTheInvariants(t *testing.T) {
	t.Skip("open finding: after a failed fsync, Core.StorageFailed turns the confirms still waiting into " +
		"Nack 503 although their messages are enqueued and may already be delivered (the protocol says a Nack " +
		"stored nothing); `ciphermq sim --seed 21 --durable --broker-fsync-errors` reports p1-48 processed but " +
		"refused. Unskip once the broker no longer refuses what it enqueued (docs/testing.md, \"Durable queues\").")
	for seed := uint64(1); seed <= 100; seed++ {
		if res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}, BrokerFsyncErrors: true}); !res.OK() {
			t.Fatalf("seed %d: %s", seed, res.Summary())
		}
	}
}
