package realworld

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/faults/proxy"
	"github.com/ciphermq/ciphermq/internal/check"
)

// faultHold is how long a link-level fault (black hole, stall) lasts: well
// past the 3 heartbeat intervals after which a silent peer is declared
// dead, so the fault must be detected, not just waited out.
const faultHold = 5 * brokerHeartbeat

// Catalogue returns the named scenarios, in the order `scenario list`
// shows them.
func Catalogue() []Scenario {
	return []Scenario{
		{
			Name:        "baseline",
			Description: "no faults: two senders, two receivers, every confirmed message processed once each, in publish order",
			Receivers:   2, Senders: 2, Messages: 1000, Ordered: true,
			Faults: waitAllAttempted,
		},
		{
			Name:        "slow-network",
			Description: "latency 4ms ±3ms jitter and a 256 KiB/s bandwidth limit on every link, both ways",
			Receivers:   1, Messages: 600, Ordered: true,
			Network: symmetric(proxy.DirFaults{Latency: 4 * time.Millisecond, Jitter: 3 * time.Millisecond, BandwidthBps: 256 << 10}),
			Faults:  waitAllAttempted,
		},
		{
			Name:        "sliced-writes",
			Description: "every write cut into 1-7 byte pieces both ways: framing must survive partial reads",
			Receivers:   1, Messages: 500, Ordered: true,
			Network: symmetric(proxy.DirFaults{SliceSize: 4, SliceVariation: 3}),
			Faults:  waitAllAttempted,
		},
		{
			Name:        "resets",
			Description: "connections reset (RST) at random mid-stream, both directions, on sender and receiver links",
			Receivers:   1, Messages: 2000, Rate: 1000,
			Faults: resets,
		},
		{
			Name:        "cut-all",
			Description: "every open connection reset at once, 5 times mid-flow, with two senders and two receivers",
			Receivers:   2, Senders: 2, Messages: 1000, Rate: 500,
			Faults: cutAll,
		},
		{
			Name:        "black-hole",
			Description: "every link silently swallows bytes for 5s; heartbeats must detect it and clients reconnect",
			Receivers:   1, Messages: 2000, Rate: 1000,
			Faults: blackHole,
		},
		{
			Name:        "one-way-stall",
			Description: "sender->broker and broker->receiver stop for 5s while the other ways flow; both sides recover",
			Receivers:   1, Messages: 2000, Rate: 1000,
			Faults: oneWayStall,
		},
		{
			Name:        "receiver-kill",
			Description: "SIGKILL one of two receivers 3 times mid-flow and restart it: still exactly once",
			Receivers:   2, Messages: 3000, Rate: 1000,
			Faults: receiverKill,
		},
		{
			Name:        "sender-kill",
			Description: "SIGKILL the sender twice mid-flow and restart it: its unconfirmed messages are unknown, never lost",
			Receivers:   1, Messages: 2000, Rate: 800,
			Faults: senderKill,
		},
		{
			Name:        "broker-restart",
			Description: "SIGKILL the broker holding a backlog: in-memory queues lose exactly what it held, nothing else",
			Receivers:   1, Messages: 1500, Rate: 1500,
			Faults: brokerRestart,
		},
	}
}

// Lookup finds a catalogue scenario by name.
func Lookup(name string) (Scenario, bool) {
	cat := Catalogue()
	i := slices.IndexFunc(cat, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return cat[i], true
}

func symmetric(d proxy.DirFaults) proxy.Faults { return proxy.Faults{Up: d, Down: d} }

// progressPoints draws n sorted thresholds in [lo, hi) of total, from the
// run's seed: where in the flow the kills land.
func progressPoints(e *Env, n, total int, lo, hi float64) []int {
	pts := make([]int, n)
	for i := range pts {
		pts[i] = int((lo + (hi-lo)*e.Rng().Float64()) * float64(total))
	}
	slices.Sort(pts)
	return pts
}

// waitAllAttempted waits until every sender attempted all its messages.
func waitAllAttempted(ctx context.Context, e *Env) error {
	for _, s := range e.senders {
		if err := e.WaitAttempted(ctx, s, s.Total); err != nil {
			return err
		}
	}
	return nil
}

func cutAll(ctx context.Context, e *Env) error {
	s := e.senders[0]
	for _, at := range progressPoints(e, 5, s.Total, 0.1, 0.9) {
		if err := e.WaitAttempted(ctx, s, at); err != nil {
			return err
		}
		for _, p := range e.proxies {
			p.CutAll()
		}
	}
	st := e.ProxyStats()
	e.Note("cuts reset %d connections; clients opened %d", st.Resets, st.Accepted)
	if st.Resets < 5 {
		return fmt.Errorf("5 cuts reset only %d connections: the clients were not connected when cut", st.Resets)
	}
	return nil
}

func resets(ctx context.Context, e *Env) error {
	s := e.senders[0]
	if err := e.SetFaults(symmetric(proxy.DirFaults{ResetProb: 0.01})); err != nil {
		return err
	}
	if err := e.WaitAttempted(ctx, s, s.Total*3/4); err != nil {
		return err
	}
	if err := e.SetFaults(proxy.Faults{}); err != nil {
		return err
	}
	st := e.ProxyStats()
	e.Note("proxies reset %d connections; clients opened %d", st.Resets, st.Accepted)
	if st.Resets == 0 {
		return errors.New("no connection was reset: the fault never bit (raise ResetProb)")
	}
	return nil
}

// waitReconnected waits until each proxy accepted a connection after the
// count in before: its client noticed the dead link and dialed again.
func waitReconnected(ctx context.Context, what string, ps []*proxy.Proxy, before []uint64) error {
	return waitUntil(ctx, "every client to reconnect after the "+what, func() (bool, error) {
		for i, p := range ps {
			if p.Stats().Accepted <= before[i] {
				return false, nil
			}
		}
		return true, nil
	})
}

func acceptedCounts(ps []*proxy.Proxy) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Stats().Accepted
	}
	return out
}

func blackHole(ctx context.Context, e *Env) error {
	s := e.senders[0]
	if err := e.WaitAttempted(ctx, s, s.Total*3/10); err != nil {
		return err
	}
	before := acceptedCounts(e.proxies)
	if err := e.SetFaults(symmetric(proxy.DirFaults{BlackHole: true})); err != nil {
		return err
	}
	if err := hold(ctx, faultHold); err != nil {
		return err
	}
	if err := e.SetFaults(proxy.Faults{}); err != nil {
		return err
	}
	st := e.ProxyStats()
	e.Note("black holes swallowed %d bytes", st.Discarded)
	if st.Discarded == 0 {
		return errors.New("the black hole swallowed nothing: no traffic during the fault")
	}
	if err := waitReconnected(ctx, "black hole", e.proxies, before); err != nil {
		return err
	}
	e.Note("every client reconnected after the black hole")
	return nil
}

func oneWayStall(ctx context.Context, e *Env) error {
	s := e.senders[0]
	r := e.receivers[0]
	if err := e.WaitAttempted(ctx, s, s.Total*3/10); err != nil {
		return err
	}
	ps := []*proxy.Proxy{s.Proxy, r.Proxy}
	before := acceptedCounts(ps)
	s.Proxy.Stall(proxy.Upstream, true)
	r.Proxy.Stall(proxy.Downstream, true)
	if err := hold(ctx, faultHold); err != nil {
		return err
	}
	s.Proxy.Stall(proxy.Upstream, false)
	r.Proxy.Stall(proxy.Downstream, false)
	if err := waitReconnected(ctx, "one-way stall", ps, before); err != nil {
		return err
	}
	e.Note("both clients reconnected after the stall (connections accepted: sender %d, receiver %d)",
		s.Proxy.Stats().Accepted, r.Proxy.Stats().Accepted)
	return nil
}

func receiverKill(ctx context.Context, e *Env) error {
	s := e.senders[0]
	r := e.receivers[0] // the second receiver is the control
	for _, at := range progressPoints(e, 3, s.Total, 0.15, 0.85) {
		if err := e.WaitAttempted(ctx, s, at); err != nil {
			return err
		}
		if err := e.KillReceiver(ctx, r); err != nil {
			return err
		}
		e.Note("%s killed after %d attempts with %d records stored", r.Name, s.Attempted(), r.Stored())
		if err := e.RestartReceiver(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// senderKill slows the confirms down (25ms on the way back) so that a kill
// always catches publishes in flight: without it a loopback broker confirms
// in microseconds and the kill would leave nothing unknown to check.
func senderKill(ctx context.Context, e *Env) error {
	s := e.senders[0]
	if err := s.Proxy.Set(proxy.Faults{Down: proxy.DirFaults{Latency: 25 * time.Millisecond}}); err != nil {
		return err
	}
	abandoned := 0
	for _, at := range progressPoints(e, 2, s.Total, 0.2, 0.8) {
		if err := e.WaitAttempted(ctx, s, at); err != nil {
			return err
		}
		n, err := e.KillSender(ctx, s)
		if err != nil {
			return err
		}
		abandoned += n
		if err := e.RestartSender(s); err != nil {
			return err
		}
	}
	if abandoned == 0 {
		return errors.New("no kill caught a publish in flight: nothing was left unknown to check")
	}
	return nil
}

// brokerRestart makes what the broker holds knowable before killing it:
// the receiver dies first (a crash, so the backlog builds up in the broker),
// the sender finishes with every publish resolved, and then the broker's
// queue holds exactly the confirmed messages the receiver's file lacks
// (plus any it stored but had not acked yet, which are processed anyway).
func brokerRestart(ctx context.Context, e *Env) error {
	s, r := e.senders[0], e.receivers[0]
	if err := e.WaitAttempted(ctx, s, s.Total/4); err != nil {
		return err
	}
	if err := e.KillReceiver(ctx, r); err != nil {
		return err
	}
	if err := s.Wait(ctx); err != nil {
		return fmt.Errorf("%s did not finish before the broker restart: %w\n%s", s.Name(), err, s.LogTail(10))
	}
	held, err := e.heldByBroker()
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return errors.New("the broker held nothing when it was killed: the scenario tested nothing (the receiver was too fast)")
	}
	if err := e.RestartBroker(ctx, held); err != nil {
		return err
	}
	e.Note("broker SIGKILLed holding %d messages; restarted on %s", len(held), e.Broker.Addr)
	if err := e.RestartReceiver(ctx, r); err != nil {
		return err
	}
	_, err = e.StartSender("p2", 500, 1500)
	return err
}

// heldByBroker computes what the broker holds while no client is running:
// every confirmed copy not in its receiver's file.
func (e *Env) heldByBroker() ([]check.QueueMessage, error) {
	for _, s := range e.senders {
		if s.Running() {
			return nil, fmt.Errorf("cannot know what the broker holds while %s publishes", s.Name())
		}
	}
	confirmed, err := e.confirmedIDs()
	if err != nil {
		return nil, err
	}
	var held []check.QueueMessage
	for _, r := range e.receivers {
		if r.Running() {
			return nil, fmt.Errorf("cannot know what the broker holds while %s consumes", r.Name)
		}
		evs, err := ReadReceived(r.Out, r.Name, e.Epoch)
		if err != nil {
			return nil, err
		}
		got := make(map[string]bool, len(evs))
		for _, ev := range evs {
			got[ev.MessageID] = true
		}
		for _, id := range confirmed {
			if !got[id] {
				held = append(held, check.QueueMessage{Queue: r.Queue, MessageID: id})
			}
		}
	}
	return held, nil
}

// RestartBroker SIGKILLs the broker, records what it held (the caller must
// know it exactly: see heldByBroker), and starts it again on the same
// address.
func (e *Env) RestartBroker(ctx context.Context, held []check.QueueMessage) error {
	if err := e.Broker.Kill(ctx); err != nil {
		return err
	}
	e.record(check.BrokerRestart(e.since(), held...))
	return e.Broker.Start(ctx)
}
