package sim

import (
	"strconv"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// This file applies a fault plan to a running world: timed disconnects,
// partitions (scheduled, random, for ever), crashes and restarts, and the
// heal that starts the liveness phase.

// scheduleLinks arms the plan's timed disconnects.
func (st *runState) scheduleLinks() {
	for _, l := range st.links {
		for _, ms := range l.plan.DisconnectAtMs {
			l := l
			at := VTime(ms.Duration())
			if at >= st.healAt {
				continue
			}
			st.w.sched.at(at, func() { st.breakLink(l, "scheduled disconnect") })
		}
	}
}

// breakLink breaks whatever connection currently runs over l.
func (st *runState) breakLink(l *Link, why string) {
	for _, c := range st.clientsOn(l) {
		if c.conn != nil && !c.conn.broken {
			st.w.net.breakConn(c.conn, why)
		}
	}
}

func (st *runState) clientsOn(l *Link) []*clientConn {
	var out []*clientConn
	for _, p := range st.pubs {
		if p.cc.link == l {
			out = append(out, &p.cc)
		}
	}
	for _, r := range st.recs {
		if r.cc.link == l {
			out = append(out, &r.cc)
		}
	}
	return out
}

// schedulePartitions arms a refresh at every boundary of a scheduled or
// random partition; refresh recomputes every link's blocked directions.
func (st *runState) schedulePartitions() {
	w := st.w
	for _, pt := range st.plan.Partitions {
		w.sched.at(VTime(pt.StartMs.Duration()), st.refreshPartitions)
		if !pt.Forever && pt.EndMs < st.plan.Phases.HealAtMs {
			w.sched.at(VTime(pt.EndMs.Duration()), st.refreshPartitions)
		}
	}
	rp := st.plan.RandomPartitions
	if rp.Enabled() && len(st.links) > 0 {
		// Drawn up front from the run's generator: a pure function of the seed.
		t := VTime(0)
		for {
			gap := time.Duration(float64(rp.MeanGapMs.Duration()) * w.rng.r.ExpFloat64())
			t = t.Add(max(gap, time.Millisecond))
			if t >= st.healAt {
				break
			}
			cut := randomCut{link: w.rng.intn(len(st.links)), start: t}
			cut.end = t.Add(max(rp.Duration.Sample(w.rng.r).Duration(), time.Millisecond))
			if w.rng.chance(rp.OneWayProb) {
				if w.rng.chance(0.5) {
					cut.up = true
				} else {
					cut.down = true
				}
			} else {
				cut.up, cut.down = true, true
			}
			st.randCut = append(st.randCut, cut)
			w.sched.at(cut.start, st.refreshPartitions)
			w.sched.at(cut.end, st.refreshPartitions)
		}
	}
}

// refreshPartitions sets every link's blocked directions for now.
func (st *runState) refreshPartitions() {
	w := st.w
	nowMs := faults.MillisOf(time.Duration(w.Now()))
	for i, l := range st.links {
		n := st.lnodes[i]
		upCut := st.plan.Cut(n, st.bnode, nowMs)
		downCut := st.plan.Cut(st.bnode, n, nowMs)
		if !st.healed {
			for _, c := range st.randCut {
				if c.link == i && w.Now() >= c.start && w.Now() < c.end {
					upCut = upCut || c.up
					downCut = downCut || c.down
				}
			}
		}
		if upCut != l.blocked[up] || downCut != l.blocked[down] {
			st.pchg++
			w.trace.begin(w.Now(), "net").word("partition").str("link", l.Name).
				str("up", strconv.FormatBool(upCut)).str("down", strconv.FormatBool(downCut)).end()
		}
		l.blocked[up], l.blocked[down] = upCut, downCut
	}
}

// scheduleCrashes arms the crash rules of each role and the scheduled crashes.
func (st *runState) scheduleCrashes() {
	cr := st.plan.Crashes
	st.crashLoop(cr.Broker, st.bnode, st.brk.crash, st.restartBroker)
	for _, p := range st.pubs {
		p := p
		st.crashLoop(cr.Publishers, p.cc.node, p.crash, p.restart)
	}
	for _, r := range st.recs {
		r := r
		st.crashLoop(cr.Receivers, r.cc.node, r.crash, r.restart)
	}
	for _, sc := range cr.Schedule {
		at := VTime(sc.AtMs.Duration())
		if at >= st.healAt {
			continue
		}
		down := sc.DowntimeMs.Duration()
		sel := faults.Partition{Mode: faults.OneWay, From: []string{sc.Node}, To: []string{"*"}}
		if sel.Cuts(st.bnode, st.bnode) {
			st.w.sched.at(at, func() { st.crashNow("broker", st.brk.crash, st.restartBroker, down) })
		}
		for _, p := range st.pubs {
			if p := p; sel.Cuts(p.cc.node, p.cc.node) {
				st.w.sched.at(at, func() { st.crashNow(p.name(), p.crash, p.restart, down) })
			}
		}
		for _, r := range st.recs {
			if r := r; sel.Cuts(r.cc.node, r.cc.node) {
				st.w.sched.at(at, func() { st.crashNow(r.name(), r.crash, r.restart, down) })
			}
		}
	}
}

// downNode is a crashed node's pending restart. runState.down maps names to
// them, so a second crash of a dead node is a no-op and heal knows whom to
// restart.
type downNode struct {
	restart func()
}

// crashLoop crashes a node after exponential uptimes during the safety phase.
func (st *runState) crashLoop(rule faults.CrashRule, n faults.Node, crash, restart func()) {
	if !rule.Enabled() {
		return
	}
	var next func()
	next = func() {
		up := rule.NextUptime(st.w.rng.r).Duration()
		at := st.w.Now().Add(up)
		if at >= st.healAt {
			return
		}
		st.w.sched.at(at, func() {
			if st.isDown(n.Name) {
				next()
				return
			}
			st.crashNow(n.Name, crash, func() { restart(); next() }, rule.Downtime.Sample(st.w.rng.r).Duration())
		})
	}
	next()
}

// crashNow crashes a node and schedules its restart after downtime (or at
// the heal, whichever comes first: the liveness phase restarts everyone).
func (st *runState) crashNow(name string, crash, restart func(), downtime time.Duration) {
	if st.healed || st.isDown(name) {
		return
	}
	crash()
	st.restartLater(name, max(downtime, time.Millisecond), restart)
}

// restartLater marks name as down and restarts it after d (at the latest
// at the heal).
func (st *runState) restartLater(name string, d time.Duration, restart func()) {
	if st.down == nil {
		st.down = map[string]*downNode{}
	}
	dn := &downNode{restart: restart}
	st.down[name] = dn
	st.downOrder = append(st.downOrder, name)
	at := st.w.Now().Add(d)
	if !st.healed && at > st.healAt {
		at = st.healAt
	}
	st.w.sched.at(at, func() { st.restartIfDown(name, dn) })
}

func (st *runState) restartIfDown(name string, dn *downNode) {
	if st.down[name] != dn {
		return
	}
	delete(st.down, name)
	dn.restart()
}

func (st *runState) isDown(name string) bool { return st.down[name] != nil }

// failStopDowntime is how long a receiver that stopped on a store failure
// stays down: the plan's disk downtime, drawn per event.
func (st *runState) failStopDowntime() time.Duration {
	d := st.plan.Disk.Downtime.Sample(st.w.rng.r).Duration()
	return max(d, time.Millisecond)
}

func (st *runState) restartBroker() {
	st.brk.start()
}

// heal ends the safety phase: faults stop, partitions heal (forever ones
// stay), and every crashed node restarts now.
func (st *runState) heal() {
	w := st.w
	st.healed = true
	w.trace.begin(w.Now(), "sim").word("heal").end()
	for _, l := range st.links {
		l.Faults.Drop, l.Faults.Duplicate, l.Faults.Reorder, l.Faults.Break = 0, 0, 0, 0
	}
	for _, r := range st.recs {
		r.disk.faults = DiskFaults{}
	}
	st.refreshPartitions()
	// Restart in a fixed order: the order nodes went down.
	for _, name := range st.downOrder {
		if dn := st.down[name]; dn != nil {
			st.restartIfDown(name, dn)
		}
	}
}
