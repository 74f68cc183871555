package sender

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// Defaults of Options.
const (
	DefaultWindow  = 1024
	DefaultTimeout = 2 * time.Minute
)

// Options configure Run.
type Options struct {
	// Exchange and RoutingKey are where every message goes.
	Exchange, RoutingKey string
	// Window bounds the messages awaiting a confirm (default DefaultWindow).
	Window int
	// Timeout is how long Run waits for outstanding confirms after the last
	// publish (or after ctx ended) before it counts them unconfirmed
	// (default DefaultTimeout).
	Timeout time.Duration
	// Sealer seals every message (required).
	Sealer envelope.Sealer
	// IDs names each message (default RandomIDs(crypto/rand.Reader)).
	IDs IDs
	// FirstIndex is the index of the first message (default 1); the n-th
	// message of the run has index FirstIndex+n-1. It is what IDs and the
	// Observer see, and the seq of the report's events.
	FirstIndex uint64
	// Now is the clock for sealing and Summary.Elapsed (default time.Now).
	Now func() time.Time
	// Observer, if set, sees every message before it is published and once
	// its outcome is known.
	Observer Observer
	// Progress, if set, is called after every publish and once at the end
	// with the counts so far.
	Progress func(sent, confirmed int)
	// Abort, if set, cuts the wait for outstanding confirms short: once it
	// ends, Run stops publishing and waiting at once and counts every
	// message still unanswered as unconfirmed. (The ctx given to Run only
	// stops publishing; the wait after it is bounded by Timeout.)
	Abort context.Context
}

// Attempt is a message about to be published.
type Attempt struct {
	Index uint64
	ID    string
	// Plaintext is valid only during the call.
	Plaintext []byte
}

// Result is how a published message ended.
type Result struct {
	Index uint64
	ID    string
	// Err is nil when confirmed, a *clients.BrokerError when refused, and
	// wraps clients.ErrUnconfirmed when the outcome never arrived. A refusal
	// of a message sent more than once is indeterminate
	// (clients.IsIndeterminate): an earlier attempt may have been stored.
	Err       error
	Duplicate bool // confirmed as a duplicate of an earlier publish of ID
	// Durable: confirmed as on disk in every queue it was routed to
	// (clients.Confirm.Durable); false for a confirm "in memory only".
	Durable bool
}

// Observer sees the life of every message (a report, a test, the demo's
// bookkeeping). Both calls run on Run's goroutine, in order. An error stops
// the run: no further message is published (Attempt's error also keeps its
// own message from being published), outstanding confirms are still
// collected, and Run returns the first such error.
type Observer interface {
	Attempt(Attempt) error
	Resolved(Result) error
}

// Summary counts how a run's messages ended.
type Summary struct {
	Sent       int
	Confirmed  int // including duplicates
	Duplicates int
	// OnDisk counts the confirmed messages the broker said are on disk in
	// every target queue; Confirmed - OnDisk are in memory only somewhere
	// (lost if the broker stops).
	OnDisk  int
	Refused map[string]int // by the broker's reason and code
	// Indeterminate counts refusals of messages sent more than once (after
	// a reconnect or a confirm timeout): an earlier attempt may have been
	// stored, so they may or may not arrive. They are not in Refused.
	Indeterminate int
	Unconfirmed   int
	Elapsed       time.Duration
}

// RefusedTotal sums Refused.
func (s Summary) RefusedTotal() int {
	n := 0
	for _, v := range s.Refused {
		n += v
	}
	return n
}

// Rate is confirmed messages per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Confirmed) / s.Elapsed.Seconds()
}

// Err is the error a command should exit with, or nil when every message
// was confirmed.
func (s Summary) Err() error {
	if s.RefusedTotal() == 0 && s.Indeterminate == 0 && s.Unconfirmed == 0 {
		return nil
	}
	return fmt.Errorf("%d messages refused, %d refused after a resend (indeterminate) and %d unconfirmed: see the reasons above; "+
		"indeterminate and unconfirmed messages may or may not have arrived (send them again with the same ids to be sure)",
		s.RefusedTotal(), s.Indeterminate, s.Unconfirmed)
}

// ErrNoSealer is returned by Run without Options.Sealer.
var ErrNoSealer = errors.New("sender: no sealer: every message must be sealed for its recipients")

type pendingMsg struct {
	index uint64
	f     *clients.Confirm
}

// run is one Run's state.
type run struct {
	o       Options
	sum     Summary
	pending []pendingMsg // in publish order
	err     error        // first error that stops publishing
}

// Run seals and publishes every message src yields, on conn, until src ends,
// ctx ends or an error stops it, then waits (up to Options.Timeout) for the
// outstanding confirms. The Summary counts what happened even when the error
// is not nil. An ended ctx is not an error: the Summary shows what was sent.
func Run(ctx context.Context, conn *clients.Conn, o Options, src Source) (Summary, error) {
	r := &run{o: withDefaults(o), sum: Summary{Refused: map[string]int{}}}
	if o.Sealer == nil {
		return r.sum, ErrNoSealer
	}
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: o.Exchange, RoutingKey: o.RoutingKey, Window: r.o.Window})
	if err != nil {
		return r.sum, fmt.Errorf("sender: publisher: %w", err)
	}
	start := r.o.Now()
	r.publishAll(ctx, pub, src)
	r.collect(ctx, pub)
	r.sum.Elapsed = r.o.Now().Sub(start)
	r.progress()
	return r.sum, r.err
}

func withDefaults(o Options) Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.IDs == nil {
		o.IDs = RandomIDs(rand.Reader)
	}
	if o.FirstIndex == 0 {
		o.FirstIndex = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (r *run) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *run) progress() {
	if r.o.Progress != nil {
		r.o.Progress(r.sum.Sent, r.sum.Confirmed)
	}
}

func (r *run) publishAll(ctx context.Context, pub *clients.Publisher, src Source) {
	var env, prefix []byte
	var handles clients.PrefixHandles
	parts, _ := r.o.Sealer.(envelope.PartsSealer)
	for index := r.o.FirstIndex; ctx.Err() == nil && r.err == nil; index++ {
		msg, ok, err := src()
		if err != nil {
			r.fail(err)
			return
		}
		if !ok {
			return
		}
		id, err := r.o.IDs(index)
		if err != nil {
			r.fail(fmt.Errorf("name message %d: %w", index, err))
			return
		}
		if r.o.Observer != nil {
			if err := r.o.Observer.Attempt(Attempt{Index: index, ID: id, Plaintext: msg}); err != nil {
				r.fail(fmt.Errorf("before publishing message %d (%s): %w", index, id, err))
				return
			}
		}
		// A cmq1 session's constant header travels once per connection
		// (shared prefixes), the rest per message.
		if parts != nil {
			prefix, env, err = parts.SealParts(env[:0], id, msg, r.o.Now())
		} else {
			env, err = r.o.Sealer.Seal(env[:0], id, msg, r.o.Now())
		}
		if err != nil {
			r.fail(fmt.Errorf("seal message %d (%s): %w", index, id, err))
			return
		}
		f, err := pub.PublishPrefixed(ctx, r.o.Exchange, r.o.RoutingKey, id, handles.For(prefix), env)
		if err != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("publish message %d (%s): %w", index, id, err))
			}
			return
		}
		r.sum.Sent++
		r.pending = append(r.pending, pendingMsg{index: index, f: f})
		r.settleResolved()
		r.progress()
	}
}

// settleResolved settles the resolved confirms at the front of pending.
func (r *run) settleResolved() {
	i := 0
	for ; i < len(r.pending); i++ {
		if errors.Is(r.pending[i].f.Err(), clients.ErrUnresolved) {
			break
		}
		r.settle(r.pending[i])
	}
	r.pending = r.pending[i:]
}

// collect waits for the outstanding confirms in order, reporting each as it
// resolves, then closes the publisher, which resolves whatever is left as
// unconfirmed.
func (r *run) collect(ctx context.Context, pub *clients.Publisher) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.Timeout)
	defer cancel()
	if r.o.Abort != nil {
		defer context.AfterFunc(r.o.Abort, cancel)()
	}
	for len(r.pending) > 0 {
		_ = r.pending[0].f.Wait(wctx) // the outcome is read by settle
		if errors.Is(r.pending[0].f.Err(), clients.ErrUnresolved) {
			break // the timeout passed
		}
		r.settleResolved()
	}
	closeErr := pub.Close(wctx)
	for _, p := range r.pending {
		r.settle(p)
	}
	r.pending = nil
	if closeErr != nil {
		r.fail(fmt.Errorf("sender: %w", closeErr)) // it says "close publisher: ..." itself
	}
}

func (r *run) settle(p pendingMsg) {
	res := Result{Index: p.index, ID: p.f.ID(), Err: p.f.Err(), Duplicate: p.f.Duplicate(), Durable: p.f.Durable()}
	r.sum.count(res)
	if r.o.Observer != nil {
		if oerr := r.o.Observer.Resolved(res); oerr != nil {
			r.fail(fmt.Errorf("after message %d (%s) resolved: %w", p.index, res.ID, oerr))
		}
	}
}

// count adds one message's outcome to the summary.
func (s *Summary) count(res Result) {
	var be *clients.BrokerError
	switch err := res.Err; {
	case err == nil:
		s.Confirmed++
		if res.Duplicate {
			s.Duplicates++
		}
		if res.Durable {
			s.OnDisk++
		}
	case errors.Is(err, clients.ErrUnconfirmed):
		s.Unconfirmed++
	case clients.IsIndeterminate(err):
		s.Indeterminate++
	case errors.As(err, &be):
		s.Refused[fmt.Sprintf("%s (code %d)", be.Reason, be.Code)]++
	default:
		s.Refused[err.Error()]++
	}
}
