package realworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/faults/proxy"
	"github.com/ciphermq/ciphermq/internal/check"
)

// The topology of every scenario: the broker's predeclared direct exchange,
// one queue per receiver, all bound with the same key, so every message is
// owed once to every receiver's queue.
const (
	scenarioExchange   = "default_exchange"
	scenarioRoutingKey = "scenario"
	receiverPrefetch   = 32
)

// Env is the world of one scenario run: its directory, the broker, the
// clients, the fault proxies in front of the broker, and the events only
// the harness knows (crashes, restarts, what a dying broker held).
type Env struct {
	Dir    string
	Bin    string
	Seed   uint64
	Epoch  time.Time
	Broker *Broker
	Log    *slog.Logger

	rng       *rand.Rand
	keys      string // key directory
	receivers []*Receiver
	senders   []*Sender
	proxies   []*proxy.Proxy
	network   proxy.Faults // what new proxies start with

	mu     sync.Mutex
	extra  []check.Event
	notes  []string
	events int // proxies' seed counter
}

// Receiver is a `ciphermq recv` child behind its own fault proxy.
type Receiver struct {
	*Process
	Queue string
	Out   string
	Proxy *proxy.Proxy
}

// Sender is a `ciphermq scenario sender` child behind its own fault proxy.
// A restarted sender continues the same sequence under the same name.
type Sender struct {
	*Process
	Report string
	Proxy  *proxy.Proxy
	// Total is how many messages the sender publishes over all its
	// incarnations; a killed sender's unsent rest is sent after restart.
	Total int
	cfg   SenderConfig
	// abandoned: ids whose outcome a killed incarnation never learned.
	abandoned map[string]bool
}

// Name is the sender's publisher name.
func (s *Sender) Name() string { return s.cfg.Publisher }

// Rng is the run's seeded random source, for scenario choices (kill points).
func (e *Env) Rng() *rand.Rand { return e.rng }

// Note records a fact about the run for its result (what a fault did).
func (e *Env) Note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.Log.Info("note", "note", msg)
	e.mu.Lock()
	e.notes = append(e.notes, msg)
	e.mu.Unlock()
}

func (e *Env) record(events ...check.Event) {
	for _, ev := range events {
		if ev.Kind != check.KindAbandoned { // those are listed in the report
			e.Log.Info("event", "kind", ev.Kind, "publisher", ev.Publisher, "receiver", ev.Receiver, "held", len(ev.Held))
		}
	}
	e.mu.Lock()
	e.extra = append(e.extra, events...)
	e.mu.Unlock()
}

// since is the time since the run's epoch, the history's clock.
func (e *Env) since() time.Duration { return time.Since(e.Epoch) }

// newEnv prepares a run: directory, binary, key files, a started broker.
func newEnv(ctx context.Context, cfg Config, dir string) (*Env, error) {
	e := &Env{Dir: dir, Bin: cfg.Binary, Seed: cfg.Seed, Epoch: time.Now(), Log: cfg.Logger,
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x5ce7a210))}
	e.keys = filepath.Join(dir, "keys")
	kg := newProcess("keygen", dir, e.Bin, "keygen", "--dir", e.keys)
	if err := kg.Start(); err != nil {
		return nil, err
	}
	if err := kg.Wait(ctx); err != nil {
		return nil, fmt.Errorf("ciphermq keygen: %w\n%s", err, kg.LogTail(10))
	}
	b, err := newBroker(dir, e.Bin)
	if err != nil {
		return nil, err
	}
	e.Broker = b
	if err := b.Start(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// newProxy puts a fault proxy in front of the broker, seeded from the run.
func (e *Env) newProxy(name string) (*proxy.Proxy, error) {
	e.mu.Lock()
	e.events++
	seed := e.Seed*1000 + uint64(e.events)
	e.mu.Unlock()
	p, err := proxy.New(e.Broker.Addr, proxy.WithSeed(seed), proxy.WithLogger(e.Log.With("proxy", name)),
		proxy.WithFaults(e.network))
	if err != nil {
		return nil, err
	}
	e.proxies = append(e.proxies, p)
	return p, nil
}

// AddReceiver starts receiver name, consuming its own queue through its own
// proxy, and waits until it consumes (its queue is declared and bound, so no
// publish can miss it).
func (e *Env) AddReceiver(ctx context.Context, name string) (*Receiver, error) {
	px, err := e.newProxy(name)
	if err != nil {
		return nil, err
	}
	r := &Receiver{Queue: "scenario-" + name, Out: filepath.Join(e.Dir, name+".jsonl"), Proxy: px}
	r.Process = newProcess(name, e.Dir, e.Bin, "recv",
		"--broker", px.Addr(),
		"--queue", r.Queue,
		"--exchange", scenarioExchange,
		"--routing-key", scenarioRoutingKey,
		"--key", filepath.Join(e.keys, "receiver.key"),
		"--trust", filepath.Join(e.keys, "sender.pub"),
		"--out", r.Out,
		"--prefetch", fmt.Sprint(receiverPrefetch),
	)
	e.receivers = append(e.receivers, r)
	return r, e.startReceiver(ctx, r)
}

// receivingBanner is what `ciphermq recv` prints once its queue is declared
// and bound and it starts consuming.
const receivingBanner = "receiving from queue"

func (e *Env) startReceiver(ctx context.Context, r *Receiver) error {
	before := countMatches(r.LogPath, receivingBanner)
	if err := r.Start(); err != nil {
		return err
	}
	err := waitUntil(ctx, r.Name+" to consume "+r.Queue, func() (bool, error) {
		if countMatches(r.LogPath, receivingBanner) > before {
			return true, nil
		}
		if !r.Running() {
			return false, fmt.Errorf("%s exited (%v)", r.Name, r.ExitErr())
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w\n%s log:\n%s", err, r.Name, r.LogTail(20))
	}
	return nil
}

// KillReceiver SIGKILLs a receiver (a crash) and records it.
func (e *Env) KillReceiver(ctx context.Context, r *Receiver) error {
	if err := r.Kill(ctx); err != nil {
		return err
	}
	e.record(check.ReceiverCrash(e.since(), r.Name))
	return nil
}

// RestartReceiver starts a killed receiver again on the same output file
// and waits until it consumes.
func (e *Env) RestartReceiver(ctx context.Context, r *Receiver) error {
	if err := e.startReceiver(ctx, r); err != nil {
		return err
	}
	e.record(check.ReceiverRestart(e.since(), r.Name))
	return nil
}

// Stored is how many complete records a receiver's output holds.
func (r *Receiver) Stored() int { return countMatches(r.Out, "\n") }

// StartSender starts sender name publishing total messages at rate per
// second through its own proxy to every receiver's queue.
func (e *Env) StartSender(name string, total int, rate float64) (*Sender, error) {
	px, err := e.newProxy(name)
	if err != nil {
		return nil, err
	}
	queues := make([]string, 0, len(e.receivers))
	for _, r := range e.receivers {
		queues = append(queues, r.Queue)
	}
	s := &Sender{Report: filepath.Join(e.Dir, name+".report.jsonl"), Proxy: px, Total: total}
	s.cfg = SenderConfig{
		Broker: px.Addr(), Exchange: scenarioExchange, RoutingKey: scenarioRoutingKey, Queues: queues,
		ToKeys: []string{filepath.Join(e.keys, "receiver.pub")}, SignKey: filepath.Join(e.keys, "sender.key"),
		Publisher: name, First: 1, Count: total, Size: 256, Rate: rate, Window: 64,
		Seed: e.Seed, Epoch: e.Epoch, Report: s.Report, Timeout: time.Minute,
	}
	s.Process = newProcess(name, e.Dir, e.Bin)
	e.senders = append(e.senders, s)
	return s, e.launchSender(s)
}

// launchSender writes the sender's current config and starts it.
func (e *Env) launchSender(s *Sender) error {
	data, err := json.MarshalIndent(s.cfg, "", " ")
	if err != nil {
		return fmt.Errorf("encode sender config: %w", err)
	}
	path := filepath.Join(e.Dir, fmt.Sprintf("%s.from-%d.json", s.cfg.Publisher, s.cfg.First))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write sender config: %w", err)
	}
	s.Args = []string{"scenario", "sender", "--config", path}
	return s.Start()
}

// Attempted is how many publishes a sender's report records so far.
func (s *Sender) Attempted() int { return countMatches(s.Report, `"kind":"publish"`) }

// WaitAttempted waits until sender s attempted at least n messages.
func (e *Env) WaitAttempted(ctx context.Context, s *Sender, n int) error {
	return waitUntil(ctx, fmt.Sprintf("%s to attempt %d messages", s.Name(), n), func() (bool, error) {
		if s.Attempted() >= n {
			return true, nil
		}
		if !s.Running() {
			return false, fmt.Errorf("%s exited (%v) after %d attempts\n%s", s.Name(), s.ExitErr(), s.Attempted(), s.LogTail(10))
		}
		return false, nil
	})
}

// KillSender SIGKILLs a sender and records the crash: every publish it
// attempted without learning the outcome is abandoned, its outcome unknown
// for ever (it may still arrive: then it is "recovered", never "lost"). It
// returns how many were abandoned.
func (e *Env) KillSender(ctx context.Context, s *Sender) (int, error) {
	if err := s.Kill(ctx); err != nil {
		return 0, err
	}
	at := e.since()
	events, err := ReadReport(s.Report)
	if err != nil {
		return 0, err
	}
	res := resolve(events)
	crash := []check.Event{check.PublisherCrash(at, s.Name())}
	if s.abandoned == nil {
		s.abandoned = map[string]bool{}
	}
	n := 0
	for _, id := range res.unresolved() {
		if s.abandoned[id] {
			continue // an earlier incarnation's, recorded at its kill
		}
		s.abandoned[id] = true
		n++
		crash = append(crash, check.Abandoned(at, s.Name(), id, "sender SIGKILLed before the confirm"))
	}
	e.record(crash...)
	e.Note("%s killed after %d attempts in all, %d publishes in flight left unknown", s.Name(), len(res.attempted), n)
	return n, nil
}

// RestartSender starts a killed sender again: it continues with the next
// sequence index and publishes the rest of its total. It does not resend
// what the killed incarnation left unresolved (it kept no durable pending
// set), which is what makes those publishes abandoned.
func (e *Env) RestartSender(s *Sender) error {
	events, err := ReadReport(s.Report)
	if err != nil {
		return err
	}
	last := resolve(events).lastSeq
	s.cfg.First, s.cfg.Count = last+1, max(0, s.Total-last)
	if err := e.launchSender(s); err != nil {
		return err
	}
	e.record(check.PublisherRestart(e.since(), s.Name()))
	return nil
}

// SetFaults applies f to the given proxies (all of them when none given).
func (e *Env) SetFaults(f proxy.Faults, on ...*proxy.Proxy) error {
	if len(on) == 0 {
		on = e.proxies
	}
	e.Log.Info("faults set", "proxies", len(on), "up", describeDir(f.Up), "down", describeDir(f.Down))
	for _, p := range on {
		if err := p.Set(f); err != nil {
			return err
		}
	}
	return nil
}

// describeDir lists the faults of one direction that are on, for the log.
func describeDir(d proxy.DirFaults) string {
	var parts []string
	add := func(on bool, format string, args ...any) {
		if on {
			parts = append(parts, fmt.Sprintf(format, args...))
		}
	}
	add(d.Latency > 0 || d.Jitter > 0, "latency=%v±%v", d.Latency, d.Jitter)
	add(!d.Delay.IsNone(), "delay=%s", d.Delay.Dist)
	add(d.BandwidthBps > 0, "bandwidth=%dB/s", d.BandwidthBps)
	add(d.SliceSize > 0, "slices=%d±%d", d.SliceSize, d.SliceVariation)
	add(d.ResetProb > 0, "reset=%g", d.ResetProb)
	add(d.BlackHole, "black-hole")
	add(d.Stall, "stall")
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// ProxyStats sums the counters of the given proxies (all when none given).
func (e *Env) ProxyStats(of ...*proxy.Proxy) proxy.Stats {
	if len(of) == 0 {
		of = e.proxies
	}
	var s proxy.Stats
	for _, p := range of {
		x := p.Stats()
		s.Accepted += x.Accepted
		s.Resets += x.Resets
		s.BytesUp += x.BytesUp
		s.BytesDown += x.BytesDown
		s.Discarded += x.Discarded
	}
	return s
}

// reconnects counts client connections beyond the first through each proxy:
// zero means no connection of the run ever broke.
func (e *Env) reconnects() int {
	n := 0
	for _, p := range e.proxies {
		if a := p.Stats().Accepted; a > 1 {
			n += int(a - 1)
		}
	}
	return n
}

// Receivers and Senders list the run's clients in the order they were added.
func (e *Env) Receivers() []*Receiver { return slices.Clone(e.receivers) }
func (e *Env) Senders() []*Sender     { return slices.Clone(e.senders) }

// liveness is the last phase: faults off, every sender finishes with every
// publish resolved, every receiver processes every confirmed copy owed to
// it, then the receivers stop cleanly.
func (e *Env) liveness(ctx context.Context) error {
	if err := e.SetFaults(proxy.Faults{}); err != nil {
		return err
	}
	if !e.Broker.Running() {
		// Nothing can converge; say so at once instead of at the deadline.
		return fmt.Errorf("the broker is not running at the liveness phase (%v): it crashed\nbroker log:\n%s",
			e.Broker.ExitErr(), e.Broker.LogTail(20))
	}
	var errs []error
	for _, s := range e.senders {
		if err := s.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s did not finish cleanly: %w\n%s log:\n%s", s.Name(), err, s.Name(), s.LogTail(10)))
		}
	}
	owed, err := e.confirmedIDs()
	if err != nil {
		return err
	}
	for _, r := range e.receivers {
		if !r.Running() {
			errs = append(errs, fmt.Errorf("%s is not running at the liveness phase (%v)\n%s", r.Name, r.ExitErr(), r.LogTail(10)))
			continue
		}
		missing := len(owed)
		err := waitUntil(ctx, fmt.Sprintf("%s to process the %d confirmed messages", r.Name, len(owed)), func() (bool, error) {
			evs, err := ReadReceived(r.Out, r.Name, e.Epoch)
			if err != nil {
				return false, err
			}
			got := make(map[string]bool, len(evs))
			for _, ev := range evs {
				got[ev.MessageID] = true
			}
			missing = 0
			for _, id := range owed {
				if !got[id] {
					missing++
				}
			}
			return missing == 0, nil
		})
		if err != nil {
			// The checker will name the missing messages; say how many here.
			errs = append(errs, fmt.Errorf("%w (%d still missing)", err, missing))
		}
	}
	// A fresh deadline: stopping cleanly must not depend on how much of the
	// liveness budget the waits above used up.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, r := range e.receivers {
		if err := r.Terminate(tctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// confirmedIDs lists every id some sender's report says was confirmed,
// minus those confirmed before a broker restart that lost them.
func (e *Env) confirmedIDs() ([]string, error) {
	lost := map[string]bool{}
	e.mu.Lock()
	for _, ev := range e.extra {
		if ev.Kind == check.KindBrokerRestart {
			for _, h := range ev.Held {
				lost[h.MessageID] = true
			}
		}
	}
	e.mu.Unlock()
	var ids []string
	for _, s := range e.senders {
		events, err := ReadReport(s.Report)
		if err != nil {
			return nil, err
		}
		for _, id := range resolve(events).confirmed() {
			if !lost[id] {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// history assembles the run's history: the senders' reports, then the
// harness's own events (crashes refer to attempts already listed), then
// every receiver's processed records in processing order.
func (e *Env) history() (check.History, error) {
	var h check.History
	for _, s := range e.senders {
		events, err := ReadReport(s.Report)
		if err != nil {
			return h, err
		}
		h.Add(events...)
	}
	e.mu.Lock()
	h.Add(e.extra...)
	e.mu.Unlock()
	for _, r := range e.receivers {
		events, err := ReadReceived(r.Out, r.Name, e.Epoch)
		if err != nil {
			return h, err
		}
		h.Add(events...)
	}
	return h, nil
}

// close stops every process and proxy. It is safe after a failure halfway.
func (e *Env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range e.senders {
		_ = s.Kill(ctx)
	}
	for _, r := range e.receivers {
		_ = r.Terminate(ctx)
	}
	if e.Broker != nil {
		_ = e.Broker.Terminate(ctx)
	}
	for _, p := range e.proxies {
		_ = p.Close()
	}
}

// logTails returns the end of every process log, for a failure report.
func (e *Env) logTails(n int) map[string]string {
	tails := map[string]string{}
	if e.Broker != nil {
		tails[e.Broker.Name] = e.Broker.LogTail(n)
	}
	for _, r := range e.receivers {
		tails[r.Name] = r.LogTail(n)
	}
	for _, s := range e.senders {
		tails[s.Name()] = s.LogTail(n)
	}
	return tails
}
