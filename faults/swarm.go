package faults

import (
	"math"
	"math/rand/v2"
)

// DefaultLivenessBoundMs is the liveness bound generated plans use: long
// enough for a publisher's retry backoff and the broker's ack timeouts to run
// several rounds after the heal.
const DefaultLivenessBoundMs Millis = 60_000

// chooser makes the choices of a generated plan. Swarm answers them from a
// seeded PRNG; Gen answers them with rapid draws, so the same code produces
// both and a rapid failure shrinks choice by choice (every "on" flag towards
// off, every strength towards its minimum).
type chooser interface {
	// on decides whether a feature is enabled; p is its probability under Swarm.
	on(label string, p float64) bool
	// float draws from [lo, hi].
	float(label string, lo, hi float64) float64
	// millis draws from [lo, hi].
	millis(label string, lo, hi Millis) Millis
	// pick draws an index in [0, n).
	pick(label string, n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) on(_ string, p float64) bool { return c.r.Float64() < p }
func (c randChooser) float(_ string, lo, hi float64) float64 {
	return lo + (hi-lo)*c.r.Float64()
}
func (c randChooser) millis(_ string, lo, hi Millis) Millis {
	return lo + Millis(c.r.Int64N(int64(hi-lo)+1))
}
func (c randChooser) pick(_ string, n int) int { return c.r.IntN(n) }

// Swarm draws the weather of one seed, TigerBeetle style: which faults are on
// at all and how strong each is. Across seeds this covers calm runs, runs with
// one fault turned up high, and storms, instead of one fixed "chaos level"
// that hides the bugs that need a particular mix. The caller owns r (a PCG
// source seeded from the run's seed), so a seed always gives the same plan.
//
// Ranges: drop 0–30 %, duplicate 0–50 %, reorder 0–30 % (datagram links
// only), per-frame disconnects 0–2 %, delays of every distribution up to a
// few hundred ms, random partitions with a mean gap of 0.5–20 s (one-way with
// a drawn probability), now and then a one-way partition that never heals,
// crashes of each role with a mean uptime of 0.5–60 s, and fsync crashes
// 0–5 %.
func Swarm(r *rand.Rand) Plan {
	pl := drawPlan(randChooser{r})
	pl.Name = "swarm"
	return pl
}

func drawPlan(c chooser) Plan {
	heal := c.millis("heal_at_ms", 1_000, 60_000)
	datagram := c.on("datagram", 0.5)
	pl := Plan{
		Version: PlanVersion,
		Links:   Links{Default: drawLink(c, "links.default", datagram)},
		Phases:  Phases{HealAtMs: heal, LivenessBoundMs: DefaultLivenessBoundMs},
	}
	// Different weather on the two link classes finds bugs that need, say,
	// a clean publisher leg and a terrible receiver leg.
	if c.on("links.split_classes", 0.3) {
		pb := drawLink(c, "links.publisher_broker", datagram)
		br := drawLink(c, "links.broker_receiver", datagram)
		pl.Links.PublisherBroker, pl.Links.BrokerReceiver = &pb, &br
	}

	if c.on("random_partitions", 0.4) {
		pl.RandomPartitions = PartitionWeather{
			MeanGapMs:  logMillis(c, "random_partitions.mean_gap_ms", 500, 20_000),
			Duration:   drawPositiveDelay(c, "random_partitions.duration", 50, 5_000),
			OneWayProb: c.float("random_partitions.one_way_probability", 0, 1),
		}
	}
	if c.on("scheduled_partition", 0.3) {
		pl.Partitions = append(pl.Partitions, drawPartition(c, "partitions[0]", heal, false))
	}
	if c.on("forever_partition", 0.1) {
		pl.Partitions = append(pl.Partitions, drawPartition(c, "partitions[forever]", heal, true))
	}

	pl.Crashes.Publishers = drawCrashRule(c, "crashes.publishers", 0.3)
	pl.Crashes.Receivers = drawCrashRule(c, "crashes.receivers", 0.3)
	pl.Crashes.Broker = drawCrashRule(c, "crashes.broker", 0.2)
	if c.on("crashes.schedule", 0.2) {
		roles := []string{"role:publisher#0", "role:receiver#0", "role:broker"}
		pl.Crashes.Schedule = []ScheduledCrash{{
			Node:       roles[c.pick("crashes.schedule.node", len(roles))],
			AtMs:       c.millis("crashes.schedule.at_ms", 0, heal-1),
			DowntimeMs: c.millis("crashes.schedule.downtime_ms", 1, 10_000),
		}}
	}
	if c.on("disk.fsync_crash", 0.3) {
		pl.Disk.FsyncCrash = c.float("disk.fsync_crash.p", 0, 0.05)
	}
	return pl
}

func drawLink(c chooser, label string, datagram bool) LinkFaults {
	var f LinkFaults
	if datagram {
		f.Mode = LinkDatagram
		if c.on(label+".drop", 0.5) {
			f.Drop = c.float(label+".drop.p", 0, 0.3)
		}
		if c.on(label+".duplicate", 0.5) {
			f.Duplicate = c.float(label+".duplicate.p", 0, 0.5)
		}
		if c.on(label+".reorder", 0.5) {
			f.Reorder = c.float(label+".reorder.p", 0, 0.3)
			f.ReorderWindowMs = c.millis(label+".reorder_window_ms", 1, 500)
		}
	} else {
		f.Mode = LinkTCP
	}
	if c.on(label+".delay", 0.7) {
		f.Delay = drawDelay(c, label+".delay", 0, 300)
	}
	if c.on(label+".disconnect", 0.4) {
		f.Disconnect = c.float(label+".disconnect.p", 0, 0.02)
	}
	return f
}

// drawDelay draws a delay of any distribution with values around [lo, hi] ms.
func drawDelay(c chooser, label string, lo, hi Millis) Delay {
	switch c.pick(label+".dist", 4) {
	case 0:
		return Constant(c.millis(label+".ms", lo, hi))
	case 1:
		a := c.millis(label+".min_ms", lo, hi)
		return Uniform(a, c.millis(label+".max_ms", a, hi))
	case 2:
		return Exponential(c.millis(label+".mean_ms", max(lo, 1), hi), c.millis(label+".max_ms", hi, 10*hi))
	default:
		return LogNormal(c.millis(label+".median_ms", max(lo, 1), hi),
			c.float(label+".sigma", 0, 1.5), c.millis(label+".max_ms", hi, 10*hi))
	}
}

// drawPositiveDelay draws a delay that is never zero (a duration).
func drawPositiveDelay(c chooser, label string, lo, hi Millis) Delay {
	d := drawDelay(c, label, max(lo, 1), hi)
	if d.IsNone() {
		return Constant(max(lo, 1))
	}
	return d
}

func drawPartition(c chooser, label string, heal Millis, forever bool) Partition {
	clients := []string{"role:publisher#0", "role:receiver#0", "role:publisher", "role:receiver"}
	client := clients[c.pick(label+".client", len(clients))]
	pt := Partition{Mode: Symmetric, From: []string{"role:broker"}, To: []string{client}}
	if forever || c.on(label+".one_way", 0.5) {
		pt.Mode = OneWay
		if c.on(label+".reverse", 0.5) {
			pt.From, pt.To = pt.To, pt.From
		}
	}
	pt.StartMs = c.millis(label+".start_ms", 0, heal-1)
	if forever {
		pt.Name, pt.Forever = "forever", true
		// A forever cut of a whole role would leave no core to converge.
		if pt.From[0] == "role:publisher" || pt.To[0] == "role:publisher" ||
			pt.From[0] == "role:receiver" || pt.To[0] == "role:receiver" {
			pt.From, pt.To = indexed(pt.From), indexed(pt.To)
		}
		return pt
	}
	pt.EndMs = pt.StartMs + c.millis(label+".length_ms", 1, 20_000)
	return pt
}

// indexed narrows a whole-role selector to the first node of the role.
func indexed(sels []string) []string {
	out := make([]string, len(sels))
	for i, s := range sels {
		if s == "role:publisher" || s == "role:receiver" {
			s += "#0"
		}
		out[i] = s
	}
	return out
}

func drawCrashRule(c chooser, label string, p float64) CrashRule {
	if !c.on(label, p) {
		return CrashRule{}
	}
	return CrashRule{
		MeanUptimeMs: logMillis(c, label+".mean_uptime_ms", 500, 60_000),
		Downtime:     drawPositiveDelay(c, label+".downtime", 1, 10_000),
	}
}

// logMillis draws from [lo, hi] evenly on a log scale, so short and long
// values are equally likely to come up.
func logMillis(c chooser, label string, lo, hi Millis) Millis {
	x := c.float(label, math.Log(float64(lo)), math.Log(float64(hi)))
	return min(max(Millis(math.Round(math.Exp(x))), lo), hi)
}
