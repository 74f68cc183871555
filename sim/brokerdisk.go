package sim

import (
	"math/rand/v2"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// FsyncErrorFraction is the share of swarm seeds that run with
// Config.BrokerFsyncErrors (it matters only to seeds that are durable and
// whose plan has disk faults). The choice comes from its own generator,
// seeded from the run's seed, so the other seeds' runs (and trace hashes)
// are the ones they were without it.
const FsyncErrorFraction = 0.5

// fsyncErrorsDrawn says whether a swarm seed's disk faults may be failed
// fsyncs.
func fsyncErrorsDrawn(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0xF5E0E2)).Float64() < FsyncErrorFraction
}

// diskFaultInSync applies the plan's disk faults to the durable broker's
// group commit, each time with probability Plan.Disk.FsyncCrash: a crash
// inside the fsync, or, with Config.BrokerFsyncErrors, half of the time
// a failed fsync instead:
//
//   - a crash inside the fsync: the machine loses power, so the log keeps
//     what earlier fsyncs made durable, perhaps plus a torn tail of this
//     commit's records (brokerNode.crash); the broker restarts after the
//     plan's disk downtime and restores from the log. It reports true:
//     the commit's confirms never leave. Only during the safety phase
//     (crashNow), like every other crash.
//   - a failed fsync (EIO, wal.MemFS.FailNextSyncs): the log's Sync
//     returns the error, and the node does what broker/server does
//     (driver.Loop.StorageFailed: the core leaves the publishes waiting
//     for the fsync unanswered and the loop closes their connections with
//     CodeUnavailable; durable publishes are refused); the operator then
//     restarts the broker (power-loss semantics: what the failed fsync
//     did not make durable is gone) after 1..50 ms, also after the heal
//     (nothing else would lift the failure). It reports false: the Sync
//     runs and fails.
func (b *brokerNode) diskFaultInSync() bool {
	p := b.st.plan.Disk.FsyncCrash
	if p == 0 || b.fs == nil || b.st.healed || !b.w.rng.chance(p) {
		return false
	}
	if b.st.fsyncErrors && b.w.rng.chance(0.5) {
		b.fs.FailNextSyncs(1, nil)
		b.st.cov.BrokerFsyncError++
		b.w.trace.begin(b.w.Now(), "broker").word("fsync-error").end()
		inc, down := b.inc, b.downtimeAfterDiskFault()
		b.w.after(b.w.rng.between(time.Millisecond, 50*time.Millisecond), func() {
			if !b.up || b.inc != inc || b.st.isDown("broker") {
				return
			}
			b.w.trace.begin(b.w.Now(), "broker").word("operator-restart").end()
			b.crash()
			b.st.restartLater("broker", down, b.st.restartBroker)
		})
		return false
	}
	b.st.cov.BrokerCrashInFsync++
	down := b.downtimeAfterDiskFault()
	b.w.trace.begin(b.w.Now(), "broker").word("crash-in-fsync").end()
	b.st.crashNow("broker", b.crash, b.st.restartBroker, down)
	return true
}

func (b *brokerNode) downtimeAfterDiskFault() time.Duration {
	d := b.st.plan.FsyncCrashDowntime(faults.RoleBroker).Sample(b.w.rng.r).Duration()
	return max(d, time.Millisecond)
}
