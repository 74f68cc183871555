package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/faults/proxy"
	"github.com/ciphermq/ciphermq/internal/check"
)

// Scenario is one fault scenario of the cross-broker catalogue.
type Scenario struct {
	Name        string
	Description string
	Messages    int
	// Faults runs while the publisher publishes; it returns an error when
	// the fault could not be applied or never bit.
	Faults func(ctx context.Context, r *run) error
}

// Catalogue is the cross-broker scenarios, in table order.
func Catalogue() []Scenario {
	return []Scenario{
		{Name: "baseline", Description: "no faults: every confirmed message processed once", Messages: 1000,
			Faults: func(ctx context.Context, r *run) error { return r.waitAttempted(ctx, r.total) }},
		{Name: "broker-kill", Description: "the consumer stops at 20% of the publishes so a backlog builds; SIGKILL the broker at 60%, restart it at once on the same state, the consumer resumes", Messages: 1000,
			Faults: brokerKill},
		{Name: "resets", Description: "the fault proxy resets connections at random (1% of chunks, both ways) until 75% of the publishes", Messages: 1000,
			Faults: resets},
		{Name: "pause", Description: "SIGSTOP the broker for 5s at 30% of the publishes, then SIGCONT", Messages: 1000,
			Faults: pause},
	}
}

// Lookup finds a catalogue scenario.
func Lookup(name string) (Scenario, bool) {
	cat := Catalogue()
	i := slices.IndexFunc(cat, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return cat[i], true
}

// ScenarioNames lists the catalogue's names.
func ScenarioNames() []string {
	var n []string
	for _, s := range Catalogue() {
		n = append(n, s.Name)
	}
	return n
}

func brokerKill(ctx context.Context, r *run) error {
	if err := r.waitAttempted(ctx, r.total*2/10); err != nil {
		return err
	}
	r.holdConsumer(true)
	if err := r.waitAttempted(ctx, r.total*6/10); err != nil {
		return err
	}
	if err := r.target.Kill(ctx); err != nil {
		return err
	}
	killed := r.since()
	r.record(check.BrokerRestart(r.since()))
	r.note("broker SIGKILLed after %d attempts, %d confirmed, %d processed", r.attempted.Load(), r.confirmed.Load(), r.processed.Load())
	if err := r.target.Restart(ctx); err != nil {
		return err
	}
	// A transient queue (or memory stream) did not survive: declare again.
	restarted := killed
	if err := r.target.Setup(ctx, r.target.Addr()); err != nil {
		return fmt.Errorf("setup after restart: %w", err)
	}
	r.note("broker restarted and set up after %s", (r.since() - restarted).Round(time.Millisecond))
	r.holdConsumer(false)
	return r.waitAttempted(ctx, r.total)
}

func resets(ctx context.Context, r *run) error {
	d := proxy.DirFaults{ResetProb: 0.01}
	for _, p := range r.proxies {
		if err := p.Set(proxy.Faults{Up: d, Down: d}); err != nil {
			return err
		}
	}
	if err := r.waitAttempted(ctx, r.total*3/4); err != nil {
		return err
	}
	var n uint64
	for _, p := range r.proxies {
		_ = p.Set(proxy.Faults{})
		n += p.Stats().Resets
	}
	r.note("proxies reset %d connections", n)
	if n == 0 {
		return errors.New("no connection was reset: the fault never bit")
	}
	return r.waitAttempted(ctx, r.total)
}

func pause(ctx context.Context, r *run) error {
	if err := r.waitAttempted(ctx, r.total*3/10); err != nil {
		return err
	}
	if err := r.target.Pause(); err != nil {
		return err
	}
	r.note("broker paused (SIGSTOP) after %d attempts", r.attempted.Load())
	select {
	case <-ctx.Done():
		_ = r.target.Resume()
		return ctx.Err()
	case <-time.After(5 * time.Second):
	}
	if err := r.target.Resume(); err != nil {
		return err
	}
	return r.waitAttempted(ctx, r.total)
}

// Config configures Run.
type Config struct {
	Seed uint64
	// Dir is the run's directory (default: a temporary one, removed after
	// the run unless Keep).
	Dir     string
	Keep    bool
	Timeout time.Duration // whole run, default 3m
	Logger  *slog.Logger
}

// Result is one run's verdict.
type Result struct {
	Target, Scenario string
	Settings         string
	Report           check.Report
	// Indeterminate counts the messages with at least one publish attempt
	// whose outcome the client never learned (timed out or connection
	// lost), each retried: the source of duplicates without publish dedup.
	Indeterminate int
	// Abandoned counts messages still unresolved after every retry.
	Abandoned int
	// Redelivered counts the duplicated messages whose extra copies all
	// came flagged as redeliveries (the consumer's ack was lost: the
	// broker's at-least-once delivery); the other duplicates are second
	// messages stored by a retried publish (no dedup on publish).
	Redelivered int
	Notes       []string
	Dir         string
	Err         error // the run itself failed (the broker would not start...)
}

// run is the state of one run.
type run struct {
	target    Target
	total     int
	epoch     time.Time
	proxies   []*proxy.Proxy
	attempted atomic.Int64
	confirmed atomic.Int64
	processed atomic.Int64
	// held stops the consumer (its connection closed, no new one) while
	// set; cancelSession ends its current session.
	held          atomic.Bool
	cancelSession context.CancelFunc
	mu            sync.Mutex
	events        []check.Event
	notes         []string
	log           *slog.Logger
}

func (r *run) since() time.Duration { return time.Since(r.epoch) }

func (r *run) record(e check.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// holdConsumer stops (true) or resumes (false) the consumer.
func (r *run) holdConsumer(on bool) {
	r.held.Store(on)
	if on {
		r.mu.Lock()
		if r.cancelSession != nil {
			r.cancelSession()
		}
		r.mu.Unlock()
	}
}

func (r *run) waitAttempted(ctx context.Context, n int) error {
	for int(r.attempted.Load()) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d publish attempts (at %d): %w", n, r.attempted.Load(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Run runs scenario sc against the named target.
func Run(ctx context.Context, targetName string, sc Scenario, o Options, cfg Config) Result {
	res := Result{Target: targetName, Scenario: sc.Name}
	t, err := NewTarget(targetName, o)
	if err != nil {
		res.Err = err
		return res
	}
	res.Settings = t.Settings()
	if err := t.Available(); err != nil {
		res.Err = err
		return res
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ciphermq-xb-"+targetName+"-"+sc.Name+"-"); err != nil {
			res.Err = err
			return res
		}
		if !cfg.Keep {
			defer func() {
				if res.Err == nil {
					os.RemoveAll(dir)
				}
			}()
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Err = err
		return res
	}
	res.Dir = dir
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &run{target: t, total: sc.Messages, log: cfg.Logger.With("target", targetName, "scenario", sc.Name)}
	res.Err = r.flow(ctx, sc, cfg, dir)
	defer t.Stop()
	h := check.History{Events: r.events}
	opts := check.Options{}
	if t.Durable() {
		opts.DurableQueues = []string{queueName}
	}
	res.Report = check.Check(h, opts)
	res.Notes = r.notes
	if err := h.Save(filepath.Join(dir, "history.json")); err != nil && res.Err == nil {
		res.Err = err
	}
	res.Indeterminate, res.Abandoned = r.indeterminate()
	res.Redelivered = r.redeliveredDuplicates()
	return res
}

// redeliveredDuplicates counts the messages processed more than once
// whose every copy after the first was flagged redelivered.
func (r *run) redeliveredDuplicates() int {
	seen := map[string]int{}
	fresh := map[string]bool{} // a copy after the first not flagged
	for _, e := range r.events {
		if e.Kind != check.KindProcessed {
			continue
		}
		seen[e.MessageID]++
		if seen[e.MessageID] > 1 && !e.Redelivered {
			fresh[e.MessageID] = true
		}
	}
	n := 0
	for id, c := range seen {
		if c > 1 && !fresh[id] {
			n++
		}
	}
	return n
}

// indeterminate counts the messages with an attempt the client could not
// resolve, and those never resolved at all.
func (r *run) indeterminate() (retried, abandoned int) {
	attempts := map[string]int{}
	for _, e := range r.events {
		switch e.Kind {
		case check.KindPublish:
			attempts[e.MessageID]++
		case check.KindAbandoned:
			abandoned++
		}
	}
	for _, n := range attempts {
		if n > 1 {
			retried++
		}
	}
	return retried, abandoned
}

func (r *run) flow(ctx context.Context, sc Scenario, cfg Config, dir string) error {
	t := r.target
	if err := t.Start(ctx, dir); err != nil {
		return err
	}
	if err := t.Setup(ctx, t.Addr()); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	for i := range 2 {
		p, err := proxy.New(t.Addr(), proxy.WithSeed(cfg.Seed+uint64(i)), proxy.WithLogger(r.log))
		if err != nil {
			return err
		}
		defer p.Close()
		r.proxies = append(r.proxies, p)
	}
	r.epoch = time.Now()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x78622d62726f6b))

	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	processed := newIDSet()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.consume(cctx, r.proxies[1].Addr(), processed) }()

	pubDone := make(chan struct{})
	var confirmedIDs sync.Map
	go func() {
		defer close(pubDone)
		r.publish(ctx, r.proxies[0].Addr(), rng, &confirmedIDs)
	}()
	ferr := sc.Faults(ctx, r)
	for _, p := range r.proxies {
		_ = p.Set(proxy.Faults{})
	}
	if ferr != nil {
		ferr = fmt.Errorf("scenario %s: %w", sc.Name, ferr)
	}
	// Liveness: every publish resolved, every confirmed message processed,
	// within 45s.
	lctx, lcancel := context.WithTimeout(ctx, 45*time.Second)
	defer lcancel()
	select {
	case <-pubDone:
	case <-lctx.Done():
	}
	for lctx.Err() == nil {
		missing := 0
		confirmedIDs.Range(func(k, _ any) bool {
			if !processed.has(k.(string)) {
				missing++
			}
			return true
		})
		if missing == 0 {
			break
		}
		select {
		case <-lctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	// A last moment for late redeliveries to show as duplicates.
	time.Sleep(500 * time.Millisecond)
	stopConsumer()
	wg.Wait()
	<-pubDone
	return ferr
}

type idSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func newIDSet() *idSet { return &idSet{m: map[string]bool{}} }
func (s *idSet) add(id string) {
	s.mu.Lock()
	s.m[id] = true
	s.mu.Unlock()
}
func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// consume keeps one consumer connected through the proxy, recording every
// delivery as processed (no client-side dedup: a redelivery the broker
// makes is seen by the application), until ctx ends.
func (r *run) consume(ctx context.Context, addr string, processed *idSet) {
	for ctx.Err() == nil {
		if r.held.Load() {
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		r.mu.Lock()
		r.cancelSession = cancel
		r.mu.Unlock()
		s, err := r.target.Dial(sctx, addr, "xb-consumer")
		if err == nil {
			err = s.Consume(sctx, func(id string, body []byte, redelivered bool) {
				r.record(check.Processed(r.since(), "c1", queueName, id, check.DigestOf(body), redelivered))
				r.processed.Add(1)
				processed.add(id)
			})
			s.Close()
		}
		cancel()
		if ctx.Err() == nil {
			r.log.Info("consumer reconnects", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// maxAttempts bounds the retries of one message before it is abandoned.
const maxAttempts = 30

// publish publishes r.total messages, one at a time, each confirmed before
// the next: a publish with an unknown outcome is retried with the same id
// on a new connection (what an at-least-once application does); a refusal
// is final.
func (r *run) publish(ctx context.Context, addr string, rng *rand.Rand, confirmed *sync.Map) {
	var s Session
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	for seq := 1; seq <= r.total; seq++ {
		id := fmt.Sprintf("xb-%d-%06d", rng.Uint32(), seq)
		body := make([]byte, 256)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		d := check.DigestOf(body)
		resolved := false
		for attempt := 1; attempt <= maxAttempts && !resolved; attempt++ {
			if ctx.Err() != nil {
				break
			}
			if s == nil {
				var err error
				if s, err = r.target.Dial(ctx, addr, "xb-publisher"); err != nil {
					r.log.Info("publisher dial", "err", err)
					s = nil
					time.Sleep(100 * time.Millisecond)
					attempt-- // no attempt was made
					continue
				}
			}
			r.record(check.Attempt(r.since(), "p1", id, uint64(seq), d, queueName))
			if attempt == 1 {
				r.attempted.Add(1)
			}
			pctx, cancel := context.WithTimeout(ctx, r.target.ConfirmTimeout())
			err := s.Publish(pctx, id, body)
			cancel()
			switch {
			case err == nil:
				r.record(check.Confirmed(r.since(), "p1", id))
				r.confirmed.Add(1)
				confirmed.Store(id, true)
				resolved = true
			case isRefusal(err) && attempt == 1:
				r.record(check.Refused(r.since(), "p1", id, 0, err.Error()))
				resolved = true
			case isRefusal(err):
				r.record(check.Indeterminate(r.since(), "p1", id, 0, err.Error()))
				resolved = true
			default:
				r.log.Info("publish outcome unknown; retrying on a new connection", "id", id, "err", err)
				s.Close()
				s = nil
			}
		}
		if !resolved {
			r.record(check.Abandoned(r.since(), "p1", id, "no confirm after retries"))
		}
	}
}
