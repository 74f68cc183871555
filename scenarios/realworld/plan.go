package realworld

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/faults"
	"github.com/ciphermq/ciphermq/faults/proxy"
)

// Plan scenarios: the fault plan that drives the simulator drives a real run
// too, through proxy.RunPlan on every client's proxy.
const (
	planReceivers = 2
	planSenders   = 2
	planRate      = 200 // messages per second per sender
	// maxPlanHeal keeps a real run short: the safety phase is real time.
	maxPlanHeal = 60 * time.Second
)

// ErrPlanUnsupported says a plan asks for something real runs cannot do yet.
var ErrPlanUnsupported = errors.New("plan not supported by real-process runs")

// PlanScenario turns a fault plan into a scenario: two senders and two
// receivers (nodes role:publisher#0..1 and role:receiver#0..1, named p1, p2,
// r1, r2) publish until the plan heals, while every client's proxy follows
// the plan's link faults, scheduled cuts and partitions (as stalls), on a
// real clock. The notes list what the plan asks for that a TCP proxy does
// not reproduce (single-frame drop, duplicate and reorder; crashes and disk
// faults, which have their own scenarios). Plans with forever partitions are
// refused: their liveness judgement needs exemptions these runs do not make.
func PlanScenario(pl faults.Plan) (Scenario, []string, error) {
	if err := pl.Validate(); err != nil {
		return Scenario{}, nil, err
	}
	for _, pt := range pl.Partitions {
		if pt.Forever {
			return Scenario{}, nil, fmt.Errorf("%w: partition %q never heals; use the simulator for forever partitions", ErrPlanUnsupported, pt.Name)
		}
	}
	heal := pl.Phases.HealAtMs.Duration()
	if heal <= 0 || heal > maxPlanHeal {
		return Scenario{}, nil, fmt.Errorf("%w: heal_at_ms %d: real runs need a safety phase of 1 ms to %v", ErrPlanUnsupported, pl.Phases.HealAtMs, maxPlanHeal)
	}
	var notes []string
	for i := range planReceivers {
		_, n := proxy.FromPlan(pl, receiverNode(i))
		notes = append(notes, n...)
	}
	for i := range planSenders {
		_, n := proxy.FromPlan(pl, senderNode(i))
		notes = append(notes, n...)
	}
	c := pl.Crashes
	if len(c.Schedule) > 0 || c.Publishers != (faults.CrashRule{}) || c.Receivers != (faults.CrashRule{}) || c.Broker != (faults.CrashRule{}) {
		notes = append(notes, "crashes not applied: the kill scenarios (receiver-kill, sender-kill, broker-restart) cover them")
	}
	if pl.Disk != (faults.Disk{}) {
		notes = append(notes, "disk faults not applied: real disks are not faulted (the simulator does it)")
	}
	name := pl.Name
	if name == "" {
		name = "plan"
	}
	messages := max(int(heal.Seconds()*planRate), 100)
	sc := Scenario{
		Name:        "plan:" + name,
		Description: fmt.Sprintf("fault plan %q on every client link until it heals at %v", name, heal),
		Receivers:   planReceivers, Senders: planSenders, Messages: messages, Rate: planRate,
		Faults: func(ctx context.Context, e *Env) error {
			for _, n := range notes {
				e.Note("%s", n)
			}
			return runPlan(ctx, e, pl)
		},
	}
	return sc, notes, nil
}

func receiverNode(i int) faults.Node {
	return faults.Node{Name: fmt.Sprintf("r%d", i+1), Role: faults.RoleReceiver, Index: i}
}

func senderNode(i int) faults.Node {
	return faults.Node{Name: fmt.Sprintf("p%d", i+1), Role: faults.RolePublisher, Index: i}
}

// runPlan drives every client's proxy from the plan until it heals, then
// stops the drivers (so none can apply a stale fault after the liveness
// phase cleared them).
func runPlan(ctx context.Context, e *Env, pl faults.Plan) error {
	type target struct {
		p    *proxy.Proxy
		node faults.Node
	}
	var targets []target
	for i, r := range e.receivers {
		targets = append(targets, target{r.Proxy, receiverNode(i)})
	}
	for i, s := range e.senders {
		targets = append(targets, target{s.Proxy, senderNode(i)})
	}
	broker := faults.Node{Name: "broker", Role: faults.RoleBroker}
	start := time.Now()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		r := rand.New(rand.NewPCG(e.Seed, uint64(i)+0x91a7))
		wg.Go(func() {
			if err := proxy.RunPlan(pctx, t.p, pl, t.node, broker, start, r); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = fmt.Errorf("plan on %s's link: %w", t.node.Name, err)
			}
		})
	}
	// Past the heal time every driver has set a clean link; the rest of the
	// plan (its liveness bound) is the harness's liveness phase.
	healed := hold(ctx, time.Until(start.Add(pl.Phases.HealAtMs.Duration()+50*time.Millisecond)))
	cancel()
	wg.Wait()
	st := e.ProxyStats()
	e.Note("plan %q: %d connections reset, %d opened, %d bytes swallowed", pl.Name, st.Resets, st.Accepted, st.Discarded)
	return errors.Join(append(errs, healed)...)
}
