package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// Run runs one workload against t and returns what it measured. The result
// is returned even when the run failed part way (Result.Error says why); err
// is set only when nothing could be measured.
func Run(ctx context.Context, t Target, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cr, err := newCrypto(cfg.Encryption)
	if err != nil {
		return Result{}, err
	}
	wire, err := wireSize(cr, cfg.Size)
	if err != nil {
		return Result{}, err
	}
	var rid [5]byte
	if _, err := crand.Read(rid[:]); err != nil {
		return Result{}, fmt.Errorf("bench: run id: %w", err)
	}
	spec := Spec{
		RunID: "bench" + hex.EncodeToString(rid[:]), ExchangeType: cfg.ExchangeType, Protocol: cfg.Protocol,
		Window: cfg.Window, Prefetch: cfg.Prefetch, Consumers: cfg.Consumers, MessageSize: wire,
	}
	if err := t.Setup(ctx, spec); err != nil {
		return Result{}, fmt.Errorf("bench: setting up %s: %w", t.Name(), err)
	}
	r := &run{cfg: cfg, spec: spec, target: t, crypto: cr}
	res := r.execute(ctx)
	res.WireSize = wire
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := t.Teardown(tctx); err != nil {
		cfg.Logger.Warn("bench: teardown failed", "target", t.Name(), "err", err)
	}
	return res, nil
}

// wireSize is the size of one sealed message of size bytes.
func wireSize(cr *crypto, size int) (int, error) {
	s, err := cr.sealer()
	if err != nil || s == nil {
		return size, err
	}
	env, err := s.Seal(nil, "probe-0-0", make([]byte, size), time.Now())
	if err != nil {
		return 0, fmt.Errorf("bench: sealing a probe message: %w", err)
	}
	return len(env), nil
}

// run is the state of one Run.
type run struct {
	cfg    Config
	spec   Spec
	target Target
	crypto *crypto
	ledger *Ledger
	start  time.Time // monotonic origin of every timestamp of the run

	sendLag     []*Histogram // per publisher, open loop only: actual send start - intended time
	lastReceive atomic.Int64 // ns since start
	lastConfirm atomic.Int64
	refused     atomic.Int64
	errMu       sync.Mutex
	firstErr    error
}

func (r *run) fail(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// err is the first failure so far; consumers may still be adding one.
func (r *run) err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.firstErr
}

func (r *run) since() time.Duration { return time.Since(r.start) }

func (r *run) execute(ctx context.Context) Result {
	cfg := r.cfg
	per := cfg.Count / int64(cfg.Publishers)
	if per == 0 {
		per = 1 << 16
	}
	r.ledger = NewLedger(cfg.Publishers, int(min(per+1, 1<<24)))
	r.start = time.Now()
	res := Result{
		Target: r.target.Name(), Publishers: cfg.Publishers, Consumers: cfg.Consumers, Size: cfg.Size,
		Window: cfg.Window, Prefetch: cfg.Prefetch, Rate: cfg.Rate, ExchangeType: cfg.ExchangeType,
		Encryption: cfg.Encryption, Protocol: cfg.Protocol, BrokerCPU: -1, BrokerPeakRSS: -1, LoadgenPeakRSS: -1,
		SendLagP50us: -1, SendLagP99us: -1, SendLagMaxus: -1,
	}

	hists, consumers, err := r.startConsumers(ctx)
	defer func() {
		for _, c := range consumers {
			if err := c.Close(); err != nil {
				cfg.Logger.Debug("bench: closing consumer", "err", err)
			}
		}
	}()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	pubs, err := r.connectPublishers(ctx)
	defer func() {
		for _, p := range pubs {
			if err := p.Close(); err != nil {
				cfg.Logger.Debug("bench: closing publisher", "err", err)
			}
		}
	}()
	if err != nil {
		res.Error = err.Error()
		return res
	}

	r.sendLag = make([]*Histogram, len(pubs))
	for i := range r.sendLag {
		r.sendLag[i] = NewHistogram()
	}

	pid := r.target.BrokerPID()
	brokerBefore, brokerErr := ProcCPU{}, error(ErrNoProc)
	if pid > 0 {
		brokerBefore, brokerErr = ReadCPU(pid)
	}
	selfBefore, selfErr := ReadCPU(0)
	machineBefore, machineErr := ReadMachineCPU()
	wallStart := time.Now()
	r.start = wallStart

	stopProgress := r.progress()
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.publish(ctx, i, p); err != nil {
				r.fail(fmt.Errorf("publisher %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	r.drain(ctx)
	stopProgress()
	wall := time.Since(wallStart)

	if brokerErr == nil {
		if after, err := ReadCPU(pid); err == nil {
			res.BrokerCPU = cpuPercent(brokerBefore, after, wall)
		}
		if rss, err := ReadPeakRSS(pid); err == nil {
			res.BrokerPeakRSS = rss
		}
	}
	if selfErr == nil {
		if after, err := ReadCPU(0); err == nil {
			res.LoadgenCPU = cpuPercent(selfBefore, after, wall)
		}
	}
	if rss, err := ReadPeakRSS(0); err == nil {
		res.LoadgenPeakRSS = rss
	}
	res.MachineBusy = -1
	if machineErr == nil {
		if after, err := ReadMachineCPU(); err == nil {
			res.MachineBusy = machineBusyPercent(machineBefore, after)
		}
	}

	res.Tally = r.ledger.Tally()
	res.Refused = r.refused.Load()
	if err := r.err(); err != nil {
		res.Error = err.Error()
	}
	e2e := time.Duration(r.lastReceive.Load())
	res.Seconds = e2e.Seconds()
	if e2e > 0 {
		res.MsgsPerSec = float64(res.Unique) / e2e.Seconds()
		res.MBPerSec = res.MsgsPerSec * float64(cfg.Size) / 1e6
	}
	if lc := time.Duration(r.lastConfirm.Load()); lc > 0 {
		res.ConfirmMsgsPerSec = float64(res.Confirmed) / lc.Seconds()
	}
	h := NewHistogram()
	for _, ch := range hists {
		ch.mu.Lock()
		h.Merge(ch.h)
		ch.mu.Unlock()
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	res.LatencyP50us, res.LatencyP99us = us(h.Quantile(0.5)), us(h.Quantile(0.99))
	res.LatencyP999us, res.LatencyMaxus = us(h.Quantile(0.999)), us(h.Max())
	if cfg.Rate > 0 {
		lag := NewHistogram()
		for _, l := range r.sendLag {
			lag.Merge(l)
		}
		res.SendLagP50us, res.SendLagP99us, res.SendLagMaxus = us(lag.Quantile(0.5)), us(lag.Quantile(0.99)), us(lag.Max())
	}
	return res
}

// lockedHist is one consumer's histogram and opener, guarded because some
// client libraries call handlers from more than one goroutine.
type lockedHist struct {
	mu     sync.Mutex
	h      *Histogram
	opener envelope.Opener
	plain  []byte
	joined []byte // scratch of envelope.OpenParts
}

func (r *run) startConsumers(ctx context.Context) ([]*lockedHist, []Consumer, error) {
	var hists []*lockedHist
	var cons []Consumer
	for i := range r.cfg.Consumers {
		o, err := r.crypto.opener()
		if err != nil {
			return hists, cons, err
		}
		lh := &lockedHist{h: NewHistogram(), opener: o}
		c, err := r.target.NewConsumer(ctx, i, func(id string, prefix, body []byte) { r.received(lh, id, prefix, body) })
		if err != nil {
			return hists, cons, fmt.Errorf("consumer %d: %w", i, err)
		}
		hists = append(hists, lh)
		cons = append(cons, c)
	}
	return hists, cons, nil
}

func (r *run) connectPublishers(ctx context.Context) ([]Publisher, error) {
	var pubs []Publisher
	for i := range r.cfg.Publishers {
		p, err := r.target.NewPublisher(ctx, i)
		if err != nil {
			return pubs, fmt.Errorf("publisher %d: %w", i, err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

// received is every consumer's delivery callback.
func (r *run) received(lh *lockedHist, id string, prefix, body []byte) {
	wall := time.Now() // one clock reading for the latency and the opener
	now := wall.Sub(r.start)
	lh.mu.Lock()
	defer lh.mu.Unlock()
	plain := body
	if lh.opener == nil && prefix != nil {
		lh.joined = append(append(lh.joined[:0], prefix...), body...)
		plain = lh.joined
	}
	if lh.opener != nil {
		var err error
		// Opening under the delivered id proves the broker did not swap ids.
		lh.plain, _, lh.joined, err = envelope.OpenParts(lh.opener, lh.plain[:0], id, prefix, body, wall, lh.joined)
		if err != nil {
			r.ledger.foreign.Add(1)
			r.fail(fmt.Errorf("%w: %w", ErrBadPayload, err))
			return
		}
		plain = lh.plain
	}
	h, err := readHeader(plain)
	if err != nil {
		r.ledger.foreign.Add(1)
		r.fail(err)
		return
	}
	r.ledger.Received(int(h.publisher), h.seq)
	lh.h.Record(now - h.intended)
	for {
		last := r.lastReceive.Load()
		if int64(now) <= last || r.lastReceive.CompareAndSwap(last, int64(now)) {
			break
		}
	}
}

// drain waits until every confirmed message arrived or DrainTimeout passed.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !r.ledger.Drained() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			r.fail(ctx.Err())
			return
		case <-tick.C:
		}
	}
	if !r.ledger.Drained() {
		r.fail(errors.New("consumers did not receive every confirmed message within the drain timeout; the missing ones count as lost"))
	}
}

// progress calls cfg.Progress until the returned stop is called.
func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			c, rcv := r.ledger.Progress()
			r.cfg.Progress(Progress{Elapsed: r.since(), Planned: r.cfg.Duration, Count: r.cfg.Count, Confirmed: c, Received: rcv})
		}
	}()
	return func() { close(done); <-finished }
}
