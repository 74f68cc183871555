package clients

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
)

// Publisher publishes with confirms over a Conn. Every message carries an id,
// chosen by the caller or, when the caller gives "", by the publisher; it
// sends the message, and sends it again with the same id after a reconnect
// or a confirm timeout, until the broker answers. The broker's dedup window
// drops the copies it already holds, so resending is safe.
// It is safe for concurrent use. Several publishers may share a Conn.
type Publisher struct {
	c    *Conn
	opts PublisherOptions
	stop chan struct{} // closed when the publisher is abandoned
	once sync.Once

	// idPrefix and nextID make the ids of messages published without one:
	// idPrefix is random per publisher, so two publishers (in this process
	// or another) never make the same id.
	idPrefix string
	nextID   atomic.Uint64

	// Guarded by c.mu.
	eng      *engine.Publisher
	slab     []Confirm           // futures are carved from slabs: one allocation per confirmSlab publishes
	resolved []engine.Resolution // pumpLocked's scratch
	room     chan struct{}       // closed when the window has room again; nil while nobody waits
	closing  bool
	notices  int           // resolutions queued for OnConfirm and not yet handed to it
	drained  chan struct{} // closed when closing, no message is pending and no OnConfirm call is due
	gone     bool          // abandoned: answers for it are ignored
	timer    *time.Timer
	timerAt  time.Time
}

// confirmSlab is how many futures one allocation holds. A slab stays in
// memory while any of its futures is referenced, so it is kept small.
const confirmSlab = 64

// Confirm is the future of one publish. It resolves exactly once: confirmed
// (Err() == nil), confirmed as a duplicate of an earlier publish of the same
// id (Err() == nil, Duplicate() == true), refused by the broker (Err() is a
// *BrokerError with the broker's code and reason), or abandoned because the
// publisher or connection closed first (Err() wraps ErrUnconfirmed).
//
// A refusal of a message sent more than once (Sends() > 1, IsIndeterminate)
// is not definite: an earlier attempt went unanswered and may have been
// stored, if the broker's dedup window no longer remembered its id when the
// refused attempt arrived.
//
// Its channel is made only when someone asks for it (Done, or Wait before
// the answer came): most confirms are resolved in batches and read with Err,
// so they never need one.
type Confirm struct {
	id      string
	state   atomic.Uint32 // confirmUnresolved, then confirmResolved once err and dup are set
	mu      sync.Mutex    // guards done, and the resolution against a concurrent Done
	done    chan struct{}
	err     error
	dup     bool
	durable bool
	sends   int
}

const (
	confirmUnresolved uint32 = iota
	confirmResolved
)

// closedChan is what Done returns for a future already resolved.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// ID is the message id.
func (f *Confirm) ID() string { return f.id }

// Done is closed when the confirm resolves.
func (f *Confirm) Done() <-chan struct{} {
	if f.state.Load() == confirmResolved {
		return closedChan
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state.Load() == confirmResolved {
		return closedChan
	}
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// Wait blocks until the confirm resolves or ctx ends, and returns Err (or
// the context's error).
func (f *Confirm) Wait(ctx context.Context) error {
	if f.state.Load() == confirmResolved {
		return f.err
	}
	select {
	case <-f.Done():
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the confirm of %q: %w", f.id, ctx.Err())
	}
}

// Err returns the outcome without blocking: ErrUnresolved until the broker
// answers, then nil for a confirm or the refusal.
func (f *Confirm) Err() error {
	if f.state.Load() == confirmResolved {
		return f.err
	}
	return ErrUnresolved
}

// Duplicate reports, once resolved, that the broker had already accepted
// this message id (an earlier attempt got through); it is stored once.
func (f *Confirm) Duplicate() bool {
	return f.state.Load() == confirmResolved && f.dup
}

// Durable reports, once confirmed, that the broker said the message is on
// disk (written and fsynced) in every queue it was routed to: it survives
// a broker crash. False means in memory only in at least one queue (lost
// if the broker stops), or a broker that predates the durability flag
// (protocol feature bit 2), or a confirm that is not resolved or was
// refused.
func (f *Confirm) Durable() bool {
	return f.state.Load() == confirmResolved && f.err == nil && f.durable
}

// Sends is, once the broker answered, how many times the message was sent
// (publish frames over all connections): 1 when nothing was lost, more
// after a reconnect or a confirm timeout. It is 0 while unresolved and for
// a confirm abandoned by Close (Err wraps ErrUnconfirmed).
func (f *Confirm) Sends() int {
	if f.state.Load() != confirmResolved {
		return 0
	}
	return f.sends
}

// resolve sets the outcome once; later calls do nothing. err, dup and
// sends are written before the state is published, so a reader that sees
// confirmResolved sees them.
func (f *Confirm) resolve(err error, dup, durable bool, sends int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state.Load() == confirmResolved {
		return
	}
	f.err, f.dup, f.durable, f.sends = err, dup, durable, sends
	f.state.Store(confirmResolved)
	if f.done != nil {
		close(f.done)
	}
}

// peekConfirmLocked prepares the next future of the slab for id; the
// caller takes it by advancing p.slab once the publish is accepted. c.mu
// held.
func (p *Publisher) peekConfirmLocked(id string) *Confirm {
	if len(p.slab) == 0 {
		p.slab = make([]Confirm, confirmSlab)
	}
	f := &p.slab[0]
	f.id = id
	return f
}

// NewPublisher returns a publisher on c.
func (c *Conn) NewPublisher(o PublisherOptions) (*Publisher, error) {
	if err := checkName("exchange", o.Exchange, true); err != nil {
		return nil, err
	}
	if err := checkName("routing key", o.RoutingKey, true); err != nil {
		return nil, err
	}
	if o.Window <= 0 {
		o.Window = defaultWindow
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = defaultConfirmTimeout
	}
	p := &Publisher{
		c:        c,
		opts:     o,
		idPrefix: randomIDPrefix(),
		stop:     make(chan struct{}),
		eng: engine.NewPublisher(engine.PublisherConfig{
			Window:            o.Window,
			ConfirmTimeout:    o.ConfirmTimeout,
			MaxConfirmTimeout: max(maxConfirmTimeout, o.ConfirmTimeout),
			Rand:              c.rnd,
			RetryCodes:        wire.RetryCodes(),
		}),
		drained: make(chan struct{}),
	}
	p.timer = time.AfterFunc(time.Hour, p.onTimer)
	p.timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("new publisher: %w", ErrClosed)
	}
	c.pubs[p.eng] = p
	c.eng.AddPublisher(p.eng, time.Now())
	return p, nil
}

// Publish sends body with message id msgID to the publisher's exchange and
// routing key. It blocks while the window is full, until ctx ends, and
// returns a Confirm to wait on (and, with PublisherOptions.OnConfirm, hands
// the same Confirm to that callback once it resolves). The body is copied.
// An empty msgID lets the publisher make a unique one (Confirm.ID tells
// it), kept for every resend of the message. Reusing an id that is
// still pending is refused; reusing one the broker already holds gives a
// Duplicate confirm. If ctx is done before the message is accepted (already
// on entry, or while waiting for room) Publish returns an error wrapping
// ctx.Err() and nothing is sent: the message was not published.
func (p *Publisher) Publish(ctx context.Context, msgID string, body []byte) (*Confirm, error) {
	return p.PublishTo(ctx, p.opts.Exchange, p.opts.RoutingKey, msgID, body)
}

// PublishTo is Publish to another exchange and routing key.
func (p *Publisher) PublishTo(ctx context.Context, exchange, routingKey, msgID string, body []byte) (*Confirm, error) {
	return p.publish(ctx, exchange, routingKey, msgID, nil, body)
}

// PublishPrefixed publishes the message whose body is prefix ‖ rest. Every
// reader gets that whole body; on a connection that negotiated shared
// prefixes the prefix travels once (and is stored once by the broker) while
// later messages refer to it. Use one prefix handle for all the messages
// that share the bytes (a cmq1 sealing session: envelope.SessionSealer's
// SealParts) and a new handle when they change. rest is copied; prefix is
// kept until the message resolves. A nil prefix is Publish of rest.
func (p *Publisher) PublishPrefixed(ctx context.Context, exchange, routingKey, msgID string, prefix *Prefix, rest []byte) (*Confirm, error) {
	return p.publish(ctx, exchange, routingKey, msgID, prefix, rest)
}

func (p *Publisher) publish(ctx context.Context, exchange, routingKey, msgID string, prefix *Prefix, body []byte) (*Confirm, error) {
	if msgID == "" {
		// Assigned once, here: the engine resends the message with this id,
		// so the broker's dedup still recognises the copies.
		msgID = p.idPrefix + strconv.FormatUint(p.nextID.Add(1), 36)
	}
	if err := p.check(exchange, routingKey, msgID, prefix.Len()+len(body)); err != nil {
		return nil, err
	}
	c := p.c
	c.mu.Lock()
	// The window: at most Window messages pending. Waiting takes a channel
	// only when the window is full, never per message.
	for p.eng.Pending() >= p.opts.Window && !c.closed && !p.closing {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %q: waiting for room in the window of %d unconfirmed messages: %w", msgID, p.opts.Window, ctx.Err())
		case <-c.closeCh:
			return nil, fmt.Errorf("publish %q: %w", msgID, ErrClosed)
		case <-p.stop:
			return nil, fmt.Errorf("publish %q: %w", msgID, ErrPublisherClosed)
		}
		c.mu.Lock()
	}
	var err error
	f := p.peekConfirmLocked(msgID)
	switch {
	case c.closed:
		err = ErrClosed
	case p.closing:
		err = ErrPublisherClosed
	case ctx.Err() != nil:
		// Checked last, under the lock: a context that ended before the
		// message was taken (already done on entry, or while waiting for
		// room even as room appeared) means it is not taken at all.
		err = fmt.Errorf("context ended before the message was accepted: %w", ctx.Err())
	default:
		// The engine copies the body into the allocation that holds the
		// frame's other fields, so the caller may reuse its buffer. The
		// future rides along as the message's token.
		err = p.eng.AddCopy(engine.Message{
			ID: msgID, Exchange: exchange, RoutingKey: routingKey, Prefix: prefix.engine(), Body: body, Token: f,
		})
	}
	if err != nil {
		*f = Confirm{}
		c.mu.Unlock()
		return nil, fmt.Errorf("publish %q: %w", msgID, err)
	}
	p.slab = p.slab[1:]
	// With the socket idle, the frame is written from here rather than by
	// waking the writer goroutine (one wake-up less per message).
	s := c.sess
	claimed := c.claimLocked(s)
	p.pumpLocked(time.Now())
	c.writeClaimedUnlock(s, claimed)
	return f, nil
}

func (p *Publisher) check(exchange, routingKey, msgID string, bodyLen int) error {
	if len(msgID) > wire.MaxMessageIDLen {
		return fmt.Errorf("%w: message id of %d bytes; the limit is %d", ErrInvalid, len(msgID), wire.MaxMessageIDLen)
	}
	if err := checkName("exchange", exchange, true); err != nil {
		return fmt.Errorf("publish %q: %w", msgID, err)
	}
	if err := checkName("routing key", routingKey, true); err != nil {
		return err
	}
	if limit := p.c.MaxMessageSize(); limit > 0 && bodyLen > limit {
		return fmt.Errorf("%w: message %q has a body of %d bytes; the broker accepts at most %d", ErrInvalid, msgID, bodyLen, limit)
	}
	// A frame above the broker's frame limit would make it close the
	// connection, and the resend after the reconnect would do it again.
	if limit := p.c.maxFrame.Load(); limit > 0 {
		if size := publishFrameSize(exchange, routingKey, msgID, bodyLen); size > limit {
			return fmt.Errorf("%w: message %q makes a %d-byte frame; the broker accepts frames of at most %d bytes", ErrInvalid, msgID, size, limit)
		}
	}
	return nil
}

// publishFrameSize bounds the encoded size of a Publish frame: header,
// a maximal sequence-number varint, and four length-prefixed fields.
func publishFrameSize(exchange, routingKey, msgID string, bodyLen int) int64 {
	const header, maxVarint = wire.FrameHeaderSize, binary.MaxVarintLen64
	n := header + maxVarint
	for _, l := range []int{len(exchange), len(routingKey), len(msgID), bodyLen} {
		n += maxVarint + l
	}
	return int64(n)
}

// pumpLocked hands the engine's resolutions to their futures and queues the
// frames the engine wants sent, numbered in the connection's sequence.
func (p *Publisher) pumpLocked(now time.Time) {
	c := p.c
	if p.gone {
		return
	}
	// Resolutions land in a reused slice; it is cleared after use so it
	// pins no ids or reasons.
	p.resolved = p.eng.AppendResolutions(p.resolved[:0])
	for _, r := range p.resolved {
		f, ok := r.Token.(*Confirm)
		if !ok {
			continue
		}
		switch r.Outcome {
		case engine.Confirmed:
			f.resolve(nil, false, r.Durable, r.Sends)
		case engine.Duplicate:
			f.resolve(nil, true, r.Durable, r.Sends)
		default:
			f.resolve(&BrokerError{Op: fmt.Sprintf("publish %q", r.ID), Code: r.Code, Reason: r.Reason, Sends: r.Sends}, false, false, r.Sends)
		}
		if p.opts.OnConfirm != nil {
			c.notices = append(c.notices, notice{p: p, f: f})
			p.notices++
		}
	}
	clear(p.resolved)
	p.wakeWaitersLocked()
	p.checkDrainedLocked()
	s := c.sess
	if s == nil {
		return // the engine may be up already; install pumps once the session is
	}
	if len(c.eng.Pump(p.eng, now)) > 0 {
		s.wakeLocked()
	}
	p.armTimerLocked()
}

// armTimerLocked makes sure the timer fires by the engine's next deadline.
func (p *Publisher) armTimerLocked() {
	d, ok := p.eng.NextDeadline()
	if !ok || (!p.timerAt.IsZero() && !d.Before(p.timerAt)) {
		return
	}
	p.timerAt = d
	p.timer.Reset(time.Until(d))
}

func (p *Publisher) onTimer() {
	c := p.c
	c.mu.Lock()
	p.timerAt = time.Time{}
	p.pumpLocked(time.Now())
	c.unlock()
}

// wakeWaitersLocked lets publishes blocked on a full window try again.
func (p *Publisher) wakeWaitersLocked() {
	if p.room != nil && (p.eng.Pending() < p.opts.Window || p.closing) {
		close(p.room)
		p.room = nil
	}
}

// checkDrainedLocked marks a closing publisher drained once nothing is
// pending and every OnConfirm call is made.
func (p *Publisher) checkDrainedLocked() {
	if p.closing && p.eng.Pending() == 0 && p.notices == 0 {
		p.markDrainedLocked()
	}
}

func (p *Publisher) markDrainedLocked() {
	select {
	case <-p.drained:
	default:
		close(p.drained)
	}
}

// Pending is the number of messages published and not yet resolved.
func (p *Publisher) Pending() int {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.gone {
		return 0 // abandoned: resolved with ErrUnconfirmed
	}
	return p.eng.Pending()
}

// PublisherStats are one publisher's own counters (the broker's counters
// are Conn.BrokerStats).
type PublisherStats struct {
	Published  uint64 // messages accepted by Publish
	Sent       uint64 // publish frames written, resends included
	Resent     uint64 // publish frames that repeated an earlier attempt
	Timeouts   uint64 // confirm timeouts that led to a resend
	Confirmed  uint64 // messages confirmed
	Duplicates uint64 // messages confirmed as duplicates of an earlier publish of their id
	Refused    uint64 // messages refused by the broker
	RetryNacks uint64 // refusals that are retried (the broker shutting down)
	Stale      uint64 // answers naming no pending message (ignored)
	Sessions   uint64 // connections (sessions) the publisher has published on
}

// Stats returns the publisher's own counters.
func (p *Publisher) Stats() PublisherStats {
	p.c.mu.Lock()
	st := p.eng.Stats()
	p.c.mu.Unlock()
	return PublisherStats{
		Published: st.Added, Sent: st.Sent, Resent: st.Resent, Timeouts: st.Timeouts,
		Confirmed: st.Confirmed, Duplicates: st.Duplicates, Refused: st.Refused,
		RetryNacks: st.RetryNacks, Stale: st.Stale, Sessions: st.Connections,
	}
}

// randomIDPrefix is 64 random bits in base 36 and a dash: the start of the
// ids a publisher makes for messages published without one.
func randomIDPrefix() string {
	var b [8]byte
	_, _ = cryptorand.Read(b[:]) // never fails (crypto/rand panics rather)
	return strconv.FormatUint(binary.LittleEndian.Uint64(b[:]), 36) + "-"
}

// Close stops accepting publishes and waits until every published message
// is resolved (confirmed or refused: each Confirm says which), or ctx ends;
// then the remaining ones resolve with ErrUnconfirmed and the returned error
// says how many. The connection stays open.
func (p *Publisher) Close(ctx context.Context) error {
	c := p.c
	c.mu.Lock()
	p.closing = true
	p.checkDrainedLocked()
	p.wakeWaitersLocked()
	c.mu.Unlock()
	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.closeCh:
		err = ErrClosed
	}
	n := p.abandon(ErrUnconfirmed)
	if err != nil && n > 0 {
		return fmt.Errorf("close publisher: %d messages still unconfirmed (%w); publish them again with the same ids to be sure", n, err)
	}
	return nil
}

// abandon removes the publisher from its connection and resolves whatever
// is still pending with err. It returns how many were pending.
func (p *Publisher) abandon(err error) int {
	c := p.c
	c.mu.Lock()
	delete(c.pubs, p.eng)
	c.eng.RemovePublisher(p.eng)
	var tokens []any
	if !p.gone {
		// The engine keeps its entries; answers for them are ignored from
		// now on (p.gone), so each future is resolved here, once.
		tokens = p.eng.PendingTokens(nil)
	}
	p.closing, p.gone = true, true
	for _, t := range tokens {
		if f, ok := t.(*Confirm); ok {
			f.resolve(fmt.Errorf("publish %q: %w", f.id, err), false, false, 0)
			if p.opts.OnConfirm != nil {
				// Queued behind the answers already due, so the calls stay
				// one at a time and in order.
				c.notices = append(c.notices, notice{p: p, f: f})
				p.notices++
			}
		}
	}
	p.markDrainedLocked()
	p.wakeWaitersLocked()
	c.unlock()
	p.timer.Stop()
	p.once.Do(func() { close(p.stop) })
	return len(tokens)
}
