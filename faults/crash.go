package faults

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// CrashRule makes the nodes of one role crash at random: each node, while up,
// crashes after an exponential time of mean MeanUptimeMs and stays down for a
// Downtime sample. Few long-lived nodes with long outages and many short
// blips are both reachable by choosing the two parameters.
type CrashRule struct {
	// MeanUptimeMs is the mean time a node stays up; 0 disables random crashes.
	MeanUptimeMs Millis `json:"mean_uptime_ms,omitempty"`
	Downtime     Delay  `json:"downtime,omitzero"`
}

// Enabled reports whether the rule crashes anything.
func (c CrashRule) Enabled() bool { return c.MeanUptimeMs > 0 }

// NextUptime draws how long a node stays up before its next random crash.
// It returns -1 when the rule is disabled.
func (c CrashRule) NextUptime(r *rand.Rand) Millis {
	if !c.Enabled() {
		return -1
	}
	x := float64(c.MeanUptimeMs) * r.ExpFloat64()
	if x > math.MaxInt64/2 {
		x = math.MaxInt64 / 2
	}
	return max(Millis(math.Round(x)), 1)
}

func (c CrashRule) validate(p *problems, field string) {
	p.nonNegative(field+".mean_uptime_ms", c.MeanUptimeMs)
	c.Downtime.validate(p, field+".downtime")
}

// ScheduledCrash crashes the nodes picked by Node at AtMs and restarts them
// DowntimeMs later (but no later than the heal time).
type ScheduledCrash struct {
	Node       string `json:"node"`
	AtMs       Millis `json:"at_ms"`
	DowntimeMs Millis `json:"downtime_ms"`
}

// Picks reports whether the scheduled crash applies to n.
func (s ScheduledCrash) Picks(n Node) bool { return Matches(s.Node, n) }

// Crashes are the process crashes of a run. A crashed client loses its
// connections and whatever it did not persist; a crashed broker loses its
// in-memory queues (durable queues survive, minus unsynced writes when the
// crash hits during an fsync, see Disk).
type Crashes struct {
	Publishers CrashRule        `json:"publishers,omitzero"`
	Receivers  CrashRule        `json:"receivers,omitzero"`
	Broker     CrashRule        `json:"broker,omitzero"`
	Schedule   []ScheduledCrash `json:"schedule,omitempty"`
}

// For returns the random-crash rule of a role.
func (c Crashes) For(role Role) CrashRule {
	switch role {
	case RolePublisher:
		return c.Publishers
	case RoleReceiver:
		return c.Receivers
	case RoleBroker:
		return c.Broker
	}
	return CrashRule{}
}

func (c Crashes) validate(p *problems, field string) {
	c.Publishers.validate(p, field+".publishers")
	c.Receivers.validate(p, field+".receivers")
	c.Broker.validate(p, field+".broker")
	for i, s := range c.Schedule {
		f := field + ".schedule[" + strconv.Itoa(i) + "]"
		validSelector(p, f+".node", s.Node)
		p.nonNegative(f+".at_ms", s.AtMs)
		if s.DowntimeMs <= 0 {
			p.addf(f+".downtime_ms", "a crash needs a downtime above 0 ms")
		}
	}
}

// Disk are the faults of the simulated disks of the broker and the receivers'
// dedup stores.
type Disk struct {
	// FsyncCrash is the probability that an fsync crashes its node before it
	// completes: writes since the previous completed fsync are lost (each may
	// or may not have reached the platter; the simulator decides with its
	// PRNG), and the node restarts after its role's downtime.
	FsyncCrash float64 `json:"fsync_crash,omitempty"`
	// Downtime applies to fsync crashes; empty means the role's crash downtime.
	Downtime Delay `json:"downtime,omitzero"`
}

// FsyncCrashDowntime is the downtime distribution of a node of role that
// crashed during an fsync: Disk.Downtime, or the role's crash downtime when
// that is empty.
func (pl Plan) FsyncCrashDowntime(role Role) Delay {
	if !pl.Disk.Downtime.IsZero() {
		return pl.Disk.Downtime
	}
	return pl.Crashes.For(role).Downtime
}

func (d Disk) validate(p *problems, field string) {
	p.probability(field+".fsync_crash", d.FsyncCrash)
	d.Downtime.validate(p, field+".downtime")
}
