package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// FromPlan converts the link settings of a plan for the link of client into
// proxy faults, the same in both directions. Plan milliseconds become real
// milliseconds. The returned notes list what a TCP proxy cannot reproduce
// (single-frame drop, duplicate and reorder belong to datagram links: on a
// byte stream they would corrupt framing, not model a network), so a caller
// can refuse the plan or log the difference.
//
// Mapping: delay → Delay (sampled per chunk read, not per frame); disconnect
// → ResetProb per chunk read (a chunk often holds several frames, so resets
// are somewhat rarer than in the simulator).
func FromPlan(pl faults.Plan, client faults.Node) (Faults, []string) {
	lf := pl.LinkFor(client)
	d := DirFaults{Delay: lf.Delay, ResetProb: lf.Disconnect}
	var notes []string
	for _, x := range []struct {
		name string
		v    float64
	}{{"drop", lf.Drop}, {"duplicate", lf.Duplicate}, {"reorder", lf.Reorder}} {
		if x.v > 0 {
			notes = append(notes, fmt.Sprintf("%s %.3g not applied: a TCP proxy cannot %s single frames (use the simulator)", x.name, x.v, x.name))
		}
	}
	return Faults{Up: d, Down: d}, notes
}

// RunPlan applies a plan to p, for the link between client and broker
// (the nodes as the plan's selectors should see them), on a real clock that
// starts at start: the link faults, scheduled disconnects (CutAll), scheduled
// and random partitions between client and the broker (as stalls of the cut
// directions, so a TCP connection survives a partition that heals in time,
// as it would on a real network), and at the heal time a clean link (forever
// partitions stay). Random partitions are drawn up front from r, one
// independent weather per proxy. Crashes are not the proxy's business: the
// test harness kills and restarts processes from the same plan.
//
// RunPlan blocks until the plan's liveness deadline or until ctx is done,
// and returns ctx.Err() in the latter case.
func RunPlan(ctx context.Context, p *Proxy, pl faults.Plan, client, broker faults.Node, start time.Time, r *rand.Rand) error {
	base, _ := FromPlan(pl, client)
	parts := slices.Clone(pl.Partitions)
	parts = append(parts, randomPartitions(pl, client, broker, r)...)

	// Every instant at which the state may change, in order.
	marks := []faults.Millis{0, pl.Phases.HealAtMs, pl.Phases.LivenessDeadline()}
	for _, pt := range parts {
		marks = append(marks, pt.StartMs)
		if !pt.Forever {
			marks = append(marks, pt.EndMs)
		}
	}
	cuts := slices.Clone(pl.LinkFor(client).DisconnectAtMs)
	marks = append(marks, cuts...)
	slices.Sort(marks)
	marks = slices.Compact(marks)

	for _, at := range marks {
		if err := sleepUntil(ctx, start.Add(at.Duration())); err != nil {
			return err
		}
		if at >= pl.Phases.LivenessDeadline() {
			return nil
		}
		f := base
		if pl.Healed(at) {
			f = Faults{}
		}
		for _, pt := range parts {
			if !pt.ActiveAt(at, pl.Phases.HealAtMs) {
				continue
			}
			if pt.Cuts(client, broker) {
				f.Up.Stall = true
			}
			if pt.Cuts(broker, client) {
				f.Down.Stall = true
			}
		}
		// Keep run-time black holes set from Go by the test.
		cur := p.Faults()
		f.Up.BlackHole, f.Down.BlackHole = cur.Up.BlackHole, cur.Down.BlackHole
		if err := p.Set(f); err != nil {
			return fmt.Errorf("apply plan at %d ms: %w", at, err)
		}
		if !pl.Healed(at) && slices.Contains(cuts, at) {
			p.CutAll()
		}
	}
	return nil
}

// randomPartitions draws the plan's random partition weather for this one
// link until the heal time.
func randomPartitions(pl faults.Plan, client, broker faults.Node, r *rand.Rand) []faults.Partition {
	w := pl.RandomPartitions
	if !w.Enabled() || r == nil {
		return nil
	}
	var out []faults.Partition
	at := faults.Millis(0)
	for {
		at += max(faults.Millis(float64(w.MeanGapMs)*r.ExpFloat64()), 1)
		if at >= pl.Phases.HealAtMs {
			return out
		}
		length := max(w.Duration.Sample(r), 1)
		pt := faults.Partition{Mode: faults.Symmetric, From: []string{broker.Name}, To: []string{client.Name},
			StartMs: at, EndMs: at + length}
		if r.Float64() < w.OneWayProb {
			pt.Mode = faults.OneWay
			if r.IntN(2) == 0 {
				pt.From, pt.To = pt.To, pt.From
			}
		}
		out = append(out, pt)
		at += length
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
