package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// maxPacingThreads bounds the OS threads open-loop publishers lock for
// precise pacing (lockPacingThread): one each. With more publishers than
// this they all pace with time.Sleep instead, as thousands of locked
// threads would exhaust the runtime's thread limit (10,000 by default,
// debug.SetMaxThreads) and crash the load generator.
const maxPacingThreads = 64

// inflight is one message awaiting its confirm.
type inflight struct {
	seq     uint64
	pending Pending
}

// publish runs publisher i until its share of Count is confirmed or Duration
// has passed. It keeps at most Window messages unconfirmed: a waiter
// goroutine takes confirms in publish order and frees window slots.
func (r *run) publish(ctx context.Context, i int, p Publisher) error {
	cfg := r.cfg
	sealer, err := r.crypto.sealer()
	if err != nil {
		return err
	}
	quota := int64(-1)
	if cfg.Count > 0 {
		quota = cfg.Count / int64(cfg.Publishers)
		if int64(i) < cfg.Count%int64(cfg.Publishers) {
			quota++
		}
	}
	var pace *pacer
	if cfg.Rate > 0 {
		interval := time.Duration(float64(time.Second) * float64(cfg.Publishers) / cfg.Rate)
		sleep, spin, release := time.Sleep, time.Duration(0), func() {}
		if cfg.Publishers <= maxPacingThreads {
			sleep, spin, release = lockPacingThread()
		}
		defer release()
		pace = &pacer{
			// Publishers of an open-loop run are staggered across one
			// interval so they do not send in bursts at the same instants.
			offset:   interval * time.Duration(i) / time.Duration(cfg.Publishers),
			interval: interval,
			now:      r.since,
			sleep:    sleep,
			spin:     spin,
		}
	}
	lag := r.sendLag[i]

	// slots bounds the unconfirmed messages; window carries them to the
	// waiter in publish order (it never blocks: slots is as deep).
	slots := make(chan struct{}, cfg.Window)
	window := make(chan inflight, cfg.Window)
	waiterDone := make(chan struct{})
	go func() {
		defer close(waiterDone)
		r.awaitConfirms(ctx, i, window, slots)
	}()
	defer func() { close(window); <-waiterDone }()

	plain := make([]byte, cfg.Size)
	fillPayload(plain[headerSize:], i)
	var idBuf, sealed, prefix []byte
	var handles clients.PrefixHandles
	// Sealing in parts only pays where the target carries shared prefixes.
	parts, _ := sealer.(envelope.PartsSealer)
	pp, ok := p.(PrefixPublisher)
	if !ok {
		parts = nil
	}
	for seq := uint64(0); quota < 0 || int64(seq) < quota; seq++ {
		var intended time.Duration
		if pace != nil {
			if quota < 0 && pace.intended(seq) >= cfg.Duration {
				// Due after the run's end (a low rate): wait for the end,
				// not for the message.
				_, err := pace.waitUntil(ctx, cfg.Duration)
				return err
			}
			if intended, err = pace.wait(ctx, seq); err != nil {
				return err
			}
		}
		if quota < 0 && r.since() >= cfg.Duration {
			return nil
		}
		select {
		case slots <- struct{}{}: // blocks while Window messages are unconfirmed
		case <-ctx.Done():
			return ctx.Err()
		}
		// One clock reading serves the closed loop's intended time and the
		// sealer's session-age check (a clock read costs ~40 ns here).
		now := time.Now()
		if pace == nil {
			// Closed loop: the message is meant to go now that it has a slot.
			intended = now.Sub(r.start)
		}
		putHeader(plain, header{publisher: uint32(i), seq: seq, intended: intended})
		idBuf = messageID(idBuf[:0], r.spec.RunID, i, seq)
		id := string(idBuf)
		body := plain
		prefix = nil
		switch {
		case parts != nil:
			// cmq1: the session header goes once per connection as a
			// shared prefix, the rest per message.
			if prefix, sealed, err = parts.SealParts(sealed[:0], id, plain, now); err != nil {
				return fmt.Errorf("sealing %s: %w", id, err)
			}
			body = sealed
		case sealer != nil:
			if sealed, err = sealer.Seal(sealed[:0], id, plain, now); err != nil {
				return fmt.Errorf("sealing %s: %w", id, err)
			}
			body = sealed
		}
		if pace != nil {
			// How late the harness itself is: the window wait (the broker
			// behind on confirms) and sealing included.
			lag.Record(r.since() - intended)
		}
		var pending Pending
		if parts != nil {
			pending, err = pp.PublishPrefixed(ctx, id, handles.For(prefix), body)
		} else {
			pending, err = p.Publish(ctx, id, body)
		}
		if err != nil {
			<-slots
			return fmt.Errorf("publishing %s: %w", id, err)
		}
		window <- inflight{seq: seq, pending: pending}
	}
	return nil
}

// awaitConfirms resolves window entries in order.
func (r *run) awaitConfirms(ctx context.Context, i int, window <-chan inflight, slots <-chan struct{}) {
	for f := range window {
		err := f.pending.Wait(ctx)
		<-slots
		if err != nil {
			r.refused.Add(1)
			r.fail(fmt.Errorf("publisher %d message %d not confirmed: %w", i, f.seq, err))
			continue
		}
		r.ledger.Confirmed(i, f.seq)
		now := int64(r.since())
		for {
			last := r.lastConfirm.Load()
			if now <= last || r.lastConfirm.CompareAndSwap(last, now) {
				break
			}
		}
	}
}

// fillPayload fills the body after the header with bytes that do not
// compress trivially, different per publisher.
func fillPayload(b []byte, publisher int) {
	x := uint32(2463534242 + publisher*7919)
	for k := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[k] = byte(x)
	}
}
