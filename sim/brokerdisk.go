package sim

import "github.com/ciphermq/ciphermq/faults"

// crashesInSync applies the plan's disk faults to the durable broker's
// group commit: with probability Plan.Disk.FsyncCrash the machine loses
// power inside the fsync, so the log keeps what earlier fsyncs made
// durable, perhaps plus a torn tail of this commit's records
// (brokerNode.crash), and the broker restarts after the plan's disk
// downtime and restores from the log. It reports whether the broker
// crashed; the commit's confirms then never leave. Only during the safety
// phase (crashNow), like every other crash.
//
// Failed fsyncs that return an error (EIO) are not drawn: the core then
// refuses durable publishes until its driver reopens the log
// (Core.StorageRecovered), a recovery this driver does not have yet.
func (b *brokerNode) crashesInSync() bool {
	p := b.st.plan.Disk.FsyncCrash
	if p == 0 || b.fs == nil || b.st.healed || !b.w.rng.chance(p) {
		return false
	}
	b.st.cov.BrokerCrashInFsync++
	down := b.st.plan.FsyncCrashDowntime(faults.RoleBroker).Sample(b.w.rng.r).Duration()
	b.w.trace.begin(b.w.Now(), "broker").word("crash-in-fsync").end()
	b.st.crashNow("broker", b.crash, b.st.restartBroker, down)
	return true
}
