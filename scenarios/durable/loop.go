package durable

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/internal/check"
)

// Broker is a broker the loop can start and kill. Start must return once
// the broker accepts connections (or fail); Addr is valid after Start.
type Broker interface {
	Start(ctx context.Context) error
	Addr() string
	Kill(ctx context.Context) error
}

// Config is one kill loop.
type Config struct {
	Messages int    // messages the publisher sends in all
	Kills    int    // SIGKILLs, each at a random point of the publisher's progress
	Seed     uint64 // where the kills land
	Queue    string // durable queue, bound to default_exchange with its own name as key
	// Deadline for everything to be confirmed and processed after the
	// last kill.
	Settle time.Duration
	// ReceiverAfterKills starts the consumer only after the last restart,
	// so every confirmed message sits in the broker through every kill.
	ReceiverAfterKills bool
	// Disrupt, if set, replaces every other kill (the 2nd, 4th, ...) by
	// another fault (a container pause, a network cut) that it injects and
	// heals before returning; it returns what it did, for the log.
	Disrupt func(ctx context.Context, step int) (string, error)
}

// Result is what a loop did, for the spec's assertions and its log.
type Result struct {
	History         check.History
	Kills           int
	Confirmed       int
	Processed       int
	Redeliveries    int // deliveries of ids already processed (dropped, acked)
	Reconnects      int
	ConfirmedAtKill []int
	Disruptions     []string
}

const publisherName, receiverName = "p1", "r1"

// Run runs the loop: a publisher and a consumer against b while b is
// killed cfg.Kills times and restarted. It returns when every message is
// confirmed and processed, or with an error when that does not happen
// within cfg.Settle after the last kill.
func Run(ctx context.Context, b Broker, cfg Config) (Result, error) {
	if cfg.Queue == "" {
		cfg.Queue = "durable-orders"
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 60 * time.Second
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b696c6c))
	start := time.Now()
	at := func() time.Duration { return time.Since(start) }
	rec := &check.Recorder{}
	if err := b.Start(ctx); err != nil {
		return Result{}, fmt.Errorf("start broker: %w", err)
	}
	var addr atomic.Value
	addr.Store(b.Addr())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &publisher{cfg: cfg, rec: rec, at: at, addr: &addr, done: make(chan struct{})}
	r := &receiver{cfg: cfg, rec: rec, at: at, addr: &addr, seen: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.run(runCtx) }()
	startReceiver := func() { go func() { defer wg.Done(); r.run(runCtx) }() }
	if !cfg.ReceiverAfterKills {
		startReceiver()
	}

	res := Result{}
	for k := 0; k < cfg.Kills; k++ {
		target := int(p.confirmed.Load()) + 20 + rng.IntN(max(cfg.Messages/(cfg.Kills+1), 21))
		if err := waitFor(ctx, cfg.Settle, func() bool { return int(p.confirmed.Load()) >= target || p.finished() }); err != nil {
			return res, fmt.Errorf("kill %d: publisher stuck at %d confirms (target %d): %w", k+1, p.confirmed.Load(), target, err)
		}
		if p.finished() {
			break
		}
		if cfg.Disrupt != nil && k%2 == 1 {
			what, err := cfg.Disrupt(ctx, k)
			if err != nil {
				return res, fmt.Errorf("fault %d: %w", k+1, err)
			}
			res.Disruptions = append(res.Disruptions, fmt.Sprintf("%s at %d confirms", what, p.confirmed.Load()))
			addr.Store(b.Addr())
			continue
		}
		res.ConfirmedAtKill = append(res.ConfirmedAtKill, int(p.confirmed.Load()))
		if err := b.Kill(ctx); err != nil {
			return res, fmt.Errorf("kill %d: %w", k+1, err)
		}
		res.Kills++
		rec.Add(check.BrokerRestart(at()))
		if err := b.Start(ctx); err != nil {
			return res, fmt.Errorf("restart %d: %w", k+1, err)
		}
		addr.Store(b.Addr())
	}
	if cfg.ReceiverAfterKills {
		startReceiver()
	}
	err := waitFor(ctx, cfg.Settle, func() bool {
		return p.finished() && r.processed.Load() >= p.confirmed.Load()
	})
	cancel()
	wg.Wait()
	res.History = rec.History()
	res.Confirmed = int(p.confirmed.Load())
	res.Processed = int(r.processed.Load())
	res.Redeliveries = int(r.redeliveries.Load())
	res.Reconnects = int(p.reconnects.Load() + r.reconnects.Load())
	if err != nil {
		return res, fmt.Errorf("not settled: %d of %d confirmed, %d processed: %w", res.Confirmed, cfg.Messages, res.Processed, err)
	}
	return res, nil
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("deadline passed")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func body(id string) []byte { return []byte("durable payload of " + id) }

// publisher sends Messages ids with a window of 64 in flight, resending
// every unresolved one after a reconnect (same id: the broker's restored
// dedup window answers for those it already stored).
type publisher struct {
	cfg        Config
	rec        *check.Recorder
	at         func() time.Duration
	addr       *atomic.Value
	confirmed  atomic.Int64
	reconnects atomic.Int64
	done       chan struct{}
	doneOnce   sync.Once

	next       int             // ids 0..next-1 have been attempted
	unresolved map[string]bool // attempted, no outcome yet
}

func (p *publisher) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *publisher) run(ctx context.Context) {
	p.unresolved = map[string]bool{}
	for ctx.Err() == nil && !p.finished() {
		c, err := dial(ctx, p.addr.Load().(string), publisherName)
		if err == nil {
			err = c.declare(p.cfg.Queue, broker.DefaultExchange, p.cfg.Queue)
			if err == nil {
				err = p.session(ctx, c)
			}
			c.close()
		}
		if err != nil && ctx.Err() == nil && !p.finished() {
			p.reconnects.Add(1)
			time.Sleep(50 * time.Millisecond) // reconnect backoff, not a correctness wait
		}
	}
}

func (p *publisher) session(ctx context.Context, c *conn) error {
	const window = 64
	inflight := map[uint64]string{}
	var seq uint64
	publish := func(id string) error {
		seq++
		inflight[seq] = id
		return c.send(wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(broker.DefaultExchange),
			RoutingKey: []byte(p.cfg.Queue), MessageID: []byte(id), Body: body(id)}))
	}
	resend := make([]string, 0, len(p.unresolved))
	for id := range p.unresolved {
		resend = append(resend, id)
	}
	slices.Sort(resend)
	for _, id := range resend {
		if err := publish(id); err != nil {
			return err
		}
	}
	resolve := func(s uint64, dup bool) {
		id, ok := inflight[s]
		if !ok {
			return
		}
		delete(inflight, s)
		delete(p.unresolved, id)
		if dup {
			p.rec.Add(check.ConfirmedDuplicate(p.at(), publisherName, id))
		} else {
			p.rec.Add(check.Confirmed(p.at(), publisherName, id))
		}
		p.confirmed.Add(1)
	}
	for ctx.Err() == nil {
		for len(inflight) < window && p.next < p.cfg.Messages {
			id := fmt.Sprintf("m-%06d", p.next)
			p.rec.Add(check.Attempt(p.at(), publisherName, id, uint64(p.next+1), check.DigestOf(body(id)), p.cfg.Queue))
			p.unresolved[id] = true
			p.next++
			if err := publish(id); err != nil {
				return err
			}
		}
		if p.next == p.cfg.Messages && len(p.unresolved) == 0 {
			p.doneOnce.Do(func() { close(p.done) })
			return nil
		}
		f, err := c.next(5 * time.Second)
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *wire.Confirm:
			for s := f.First; s <= f.Last; s++ {
				resolve(s, false)
			}
		case *wire.ConfirmDup:
			resolve(f.Seq, true)
		case *wire.Nack:
			// Refused for now (storage failing, shutting down): keep it
			// unresolved and retry on a fresh connection.
			return fmt.Errorf("publish %d refused: %s (code %d)", f.Seq, f.Reason, f.Code)
		}
	}
	return ctx.Err()
}

// receiver consumes the queue, processes each id once (its dedup is this
// map: the receiver itself never crashes here) and acks every delivery.
type receiver struct {
	cfg          Config
	rec          *check.Recorder
	at           func() time.Duration
	addr         *atomic.Value
	seen         map[string]bool
	processed    atomic.Int64
	redeliveries atomic.Int64
	reconnects   atomic.Int64
}

func (r *receiver) run(ctx context.Context) {
	for ctx.Err() == nil {
		c, err := dial(ctx, r.addr.Load().(string), receiverName)
		if err == nil {
			err = c.declare(r.cfg.Queue, broker.DefaultExchange, r.cfg.Queue)
			if err == nil {
				err = r.session(ctx, c)
			}
			c.close()
		}
		if err != nil && ctx.Err() == nil {
			r.reconnects.Add(1)
			time.Sleep(50 * time.Millisecond) // reconnect backoff, not a correctness wait
		}
	}
}

func (r *receiver) session(ctx context.Context, c *conn) error {
	if err := c.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 3, Queue: r.cfg.Queue, Prefetch: 64})); err != nil {
		return err
	}
	// The connection closes when the run ends. A broker that went silent
	// (paused, or cut off by a network fault) is given up after 5s, five of
	// the brokers' 1s heartbeats; the reader is never reused after a
	// timeout, which may have cut a frame in half.
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	for ctx.Err() == nil {
		f, err := c.next(5 * time.Second)
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *wire.Deliver:
			id := string(f.MessageID)
			if r.seen[id] {
				r.redeliveries.Add(1)
			} else {
				r.seen[id] = true
				r.rec.Add(check.Processed(r.at(), receiverName, r.cfg.Queue, id, check.DigestOf(f.Body), f.Flags&wire.FlagRedelivered != 0))
				r.processed.Add(1)
			}
			if err := c.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: f.DeliveryTag})); err != nil {
				return err
			}
		case *wire.Error:
			return fmt.Errorf("consume refused: %s (code %d)", f.Message, f.Code)
		}
	}
	return ctx.Err()
}
