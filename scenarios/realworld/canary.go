package realworld

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// canaryAddr is the loopback address the canary connects from, so that the
// attackers (from 127.0.0.1) never share its per-address limits.
var canaryAddr = net.IPv4(127, 0, 0, 2)

// CanaryPhase is what the canary saw in one phase of a hostile run.
type CanaryPhase struct {
	Phase     string
	From, To  time.Duration // since the canary started
	Published int           // publishes scheduled in the phase
	Delivered int           // of those, delivered
	// P50, P99 and Max are publish→deliver latencies of the messages
	// scheduled in the phase, measured from the scheduled send time (so a
	// publisher held back by a frozen broker counts the wait, no coordinated
	// omission).
	P50, P99, Max time.Duration
	// MaxGap is the longest interval in the phase without a delivery
	// (the phase's edges count as deliveries).
	MaxGap time.Duration
}

func (p CanaryPhase) String() string {
	return fmt.Sprintf("%s [%v..%v]: %d published, %d delivered, p50 %v p99 %v max %v, max gap %v",
		p.Phase, p.From.Round(time.Millisecond), p.To.Round(time.Millisecond), p.Published, p.Delivered,
		p.P50.Round(10*time.Microsecond), p.P99.Round(10*time.Microsecond), p.Max.Round(10*time.Microsecond),
		p.MaxGap.Round(time.Millisecond))
}

// CanaryReport is the canary's verdict material for a whole run.
type CanaryReport struct {
	Published, Confirmed, Delivered int
	// Lost counts confirmed publishes that were not delivered by the end.
	Lost int
	// Refused counts publishes the broker refused or that were never
	// confirmed (not lost: the publisher knows).
	Refused int
	Phases  []CanaryPhase
}

// Canary is a well-behaved publisher and consumer beside an attack: a
// publisher paced at a fixed rate on its own queue and a consumer that acks
// everything, recording publish→deliver latency per message.
type Canary struct {
	Rate  float64
	Queue string

	pubConn, subConn *clients.Conn
	pub              *clients.Publisher
	start            time.Time

	mu        sync.Mutex
	scheduled []time.Duration // index: sequence; scheduled send time since start
	delivered []time.Duration // index: sequence; delivery time since start (0: not yet)
	confirmed int
	refused   int
	nDeliv    int
	deliverAt []time.Duration // every first delivery, in order

	stop     chan struct{}
	pubDone  chan struct{}
	confirm  chan *clients.Confirm
	confDone chan struct{}
}

// StartCanary connects the canary from 127.0.0.2, declares its queue (bound
// to the predeclared direct exchange with its own key) and starts
// publishing at rate messages per second.
func StartCanary(ctx context.Context, addr string, rate float64) (*Canary, error) {
	return StartCanaryAs(ctx, addr, rate, "", "")
}

// StartCanaryAs is StartCanary logged in as user with password (PLAIN;
// none when user is empty).
func StartCanaryAs(ctx context.Context, addr string, rate float64, user, password string) (*Canary, error) {
	c := &Canary{Rate: rate, Queue: "canary", stop: make(chan struct{}), pubDone: make(chan struct{}),
		confirm: make(chan *clients.Confirm, 1<<16), confDone: make(chan struct{})}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: canaryAddr}}
		return d.DialContext(ctx, "tcp", addr)
	}
	opts := clients.Options{ClientName: "canary", DialFunc: dial, Logger: slog.New(slog.DiscardHandler), User: user, Password: password}
	var err error
	if c.subConn, err = clients.Dial(ctx, addr, opts); err != nil {
		return nil, fmt.Errorf("canary consumer: %w", err)
	}
	if c.pubConn, err = clients.Dial(ctx, addr, opts); err != nil {
		c.subConn.Close()
		return nil, fmt.Errorf("canary publisher: %w", err)
	}
	fail := func(err error) (*Canary, error) {
		c.subConn.Close()
		c.pubConn.Close()
		return nil, err
	}
	if err := c.subConn.DeclareQueue(ctx, c.Queue, clients.QueueOptions{}); err != nil {
		return fail(err)
	}
	if err := c.subConn.Bind(ctx, scenarioExchange, c.Queue, "canary"); err != nil {
		return fail(err)
	}
	if c.pub, err = c.pubConn.NewPublisher(clients.PublisherOptions{Exchange: scenarioExchange, RoutingKey: "canary",
		Window: 4096, ConfirmTimeout: 2 * time.Minute}); err != nil {
		return fail(err)
	}
	c.start = time.Now()
	if _, err := c.subConn.Consume(ctx, clients.ConsumerOptions{Queue: c.Queue, Prefetch: 256,
		Handler: func(_ context.Context, d *clients.Delivery) error {
			c.onDelivery(d)
			return nil
		}}); err != nil {
		return fail(err)
	}
	go c.publishLoop(ctx)
	go c.confirmLoop(ctx)
	return c, nil
}

// Since is the time since the canary started, the clock of its phases.
func (c *Canary) Since() time.Duration { return time.Since(c.start) }

func (c *Canary) onDelivery(d *clients.Delivery) {
	now := time.Since(c.start)
	if len(d.Body) < 8 {
		return
	}
	seq := int(binary.BigEndian.Uint64(d.Body))
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq < 0 || seq >= len(c.delivered) || c.delivered[seq] != 0 {
		return // a redelivery
	}
	c.delivered[seq] = now
	c.nDeliv++
	c.deliverAt = append(c.deliverAt, now)
}

// publishLoop publishes at the canary's rate; when it falls behind (the
// publish blocked) it catches up at once, so latency counts the wait.
func (c *Canary) publishLoop(ctx context.Context) {
	defer close(c.pubDone)
	defer close(c.confirm)
	interval := time.Duration(float64(time.Second) / c.Rate)
	body := make([]byte, 64)
	for seq := 0; ; seq++ {
		at := time.Duration(seq) * interval
		if wait := at - time.Since(c.start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return
			}
		} else {
			select {
			case <-c.stop:
				return
			default:
			}
		}
		c.mu.Lock()
		c.scheduled = append(c.scheduled, at)
		c.delivered = append(c.delivered, 0)
		c.mu.Unlock()
		binary.BigEndian.PutUint64(body, uint64(seq))
		conf, err := c.pub.Publish(ctx, fmt.Sprintf("canary-%d", seq), body)
		if err != nil {
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
			continue
		}
		c.confirm <- conf
	}
}

func (c *Canary) confirmLoop(ctx context.Context) {
	defer close(c.confDone)
	for conf := range c.confirm {
		err := conf.Wait(ctx)
		c.mu.Lock()
		if err == nil {
			c.confirmed++
		} else {
			c.refused++
		}
		c.mu.Unlock()
	}
}

// Stop stops publishing, waits for every outstanding confirm and then for
// every confirmed message to be delivered (or ctx to end), closes the
// canary's connections and reports, cut into the given phases (each from
// its start to the next one's; the last ends when publishing stopped).
func (c *Canary) Stop(ctx context.Context, phases []string, starts []time.Duration) CanaryReport {
	close(c.stop)
	<-c.pubDone
	<-c.confDone
	end := c.Since()
	_ = waitUntil(ctx, "the canary consumer to receive every confirmed message", func() (bool, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nDeliv >= c.confirmed, nil
	})
	c.pubConn.Close()
	c.subConn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	r := CanaryReport{Published: len(c.scheduled), Confirmed: c.confirmed, Delivered: c.nDeliv, Refused: c.refused}
	r.Lost = max(0, c.confirmed-c.nDeliv)
	for i, name := range phases {
		to := end
		if i+1 < len(starts) {
			to = starts[i+1]
		}
		r.Phases = append(r.Phases, c.phaseLocked(name, starts[i], to))
	}
	return r
}

func (c *Canary) phaseLocked(name string, from, to time.Duration) CanaryPhase {
	p := CanaryPhase{Phase: name, From: from, To: to}
	var lat []time.Duration
	for seq, at := range c.scheduled {
		if at < from || at >= to {
			continue
		}
		p.Published++
		if d := c.delivered[seq]; d != 0 {
			p.Delivered++
			lat = append(lat, d-at)
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		p.P50 = lat[len(lat)/2]
		p.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		p.Max = lat[len(lat)-1]
	}
	last := from
	for _, d := range c.deliverAt {
		if d < from {
			continue
		}
		if d >= to {
			break
		}
		p.MaxGap = max(p.MaxGap, d-last)
		last = d
	}
	p.MaxGap = max(p.MaxGap, to-last)
	return p
}
