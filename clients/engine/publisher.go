package engine

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Message is one message a publisher wants the broker to confirm.
type Message struct {
	// ID is the message id, unique per message. Resends carry the same id,
	// which is what lets the broker drop the copies.
	ID         string
	Exchange   string
	RoutingKey string
	// Prefix, if not nil, is the shared leading part of the message: its
	// logical body is Prefix ‖ Body. The engine keeps the handle with the
	// message (for resends) and hands it out with each frame (Prefixes);
	// the driver sends it by reference or joined, see Prefix.
	Prefix *Prefix
	// Body is kept by reference until the message resolves: do not modify it.
	Body []byte
	// Token is the driver's own value for this message (its future, say),
	// handed back in the Resolution so the driver needs no lookup by id.
	Token any
}

// Outcome is how a publish was resolved.
type Outcome uint8

const (
	// Confirmed: the broker stored the message in every queue it routed to.
	Confirmed Outcome = iota + 1
	// Duplicate: the broker had already accepted this message id inside its
	// dedup window (an earlier attempt got through); it is stored once.
	Duplicate
	// Refused: the broker refused the message; Code and Reason say why.
	Refused
)

// String names the outcome for logs and test output.
func (o Outcome) String() string {
	switch o {
	case Confirmed:
		return "confirmed"
	case Duplicate:
		return "duplicate"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Resolution is the final answer for one message id. Every added message
// gets exactly one.
type Resolution struct {
	ID      string
	Outcome Outcome
	// Code and Reason are the broker's, set only when Outcome is Refused.
	Code   uint16
	Reason string
	// Durable (Confirmed or Duplicate): the broker said the message is on
	// disk in every queue it was routed to (Confirm/ConfirmDup flags).
	Durable bool
	// Sends counts every publish frame this message took, over all
	// connections (1 when nothing was lost).
	Sends int
	// Token is the Message's Token.
	Token any
}

// PublisherConfig tunes a Publisher. Zero values take the defaults noted.
type PublisherConfig struct {
	// Window bounds the messages on the wire without an answer (default 256).
	Window int
	// ConfirmTimeout is how long to wait for an answer before sending the
	// message again on the same connection (default 5s). On a transport that
	// can lose frames without breaking (a datagram link), this is the only
	// thing that recovers a lost publish or a lost confirm.
	ConfirmTimeout time.Duration
	// MaxConfirmTimeout caps the doubling of ConfirmTimeout over repeated
	// timeouts of one message (default 60s).
	MaxConfirmTimeout time.Duration
	// Jitter is the random fraction added to each timeout (see
	// Backoff.Jitter; default 0.2, negative for none).
	Jitter float64
	// Rand supplies the jitter. Nil: no jitter.
	Rand Rand
	// RetryCodes lists Nack codes that mean "not now" rather than "no": a
	// message nacked with one of them stays pending and is sent again when
	// its confirm timeout expires, or at once after a reconnect. Empty by
	// default; the networked client retries on CodeShuttingDown, because a
	// broker that is going down will be back behind the same address.
	RetryCodes []uint16
}

const (
	defaultWindow            = 256
	defaultConfirmTimeout    = 5 * time.Second
	defaultMaxConfirmTimeout = 60 * time.Second
)

// PublisherStats are cumulative counters since NewPublisher.
type PublisherStats struct {
	Added       uint64 // messages accepted by Add
	Sent        uint64 // publish frames produced, resends included
	Resent      uint64 // publish frames that repeated an earlier attempt
	Timeouts    uint64 // confirm timeouts that scheduled a resend
	Confirmed   uint64 // messages resolved Confirmed
	Duplicates  uint64 // messages resolved Duplicate
	Refused     uint64 // messages resolved Refused
	RetryNacks  uint64 // nacks with a RetryCodes code (message kept)
	Stale       uint64 // answers naming no pending message (ignored)
	Connections uint64 // calls to Connected
}

// pubEntry is the engine's record of one pending message.
type pubEntry struct {
	msg                Message
	id, exchange, rkey []byte // frame fields, converted once
	buf                []byte // the one buffer behind id, exchange, rkey (and a copied body)
	order              uint64 // add order: resends after a reconnect keep it
	onWire             bool   // sent on the current connection, unanswered
	due                bool   // confirm overdue: in the due list
	resolved           bool
	seq                uint64   // first sequence number on the current connection (0: none)
	moreSeqs           []uint64 // later ones (resends after confirm timeouts)
	attempts           int      // sends on the current connection
	sends              int      // sends over all connections
	deadline           time.Time
	heapIdx            int
}

// Publisher is the deterministic publishing state machine: pending messages,
// the in-flight window, per-connection sequence numbers, confirm handling and
// retries. It never blocks, starts no goroutine and reads no clock: every
// input that needs the time takes it as now. It is not safe for concurrent
// use; a driver serialises calls (a mutex, or one owning goroutine).
//
// The driver's loop:
//
//	p.Connected(now)                  // after the handshake of each connection
//	p.Add(msg)                        // any time, connected or not
//	frames := p.Poll(now)             // after every input and at NextDeadline: send these
//	p.HandleConfirm(c) / HandleConfirmDup(d) / HandleNack(n)
//	for _, r := range p.Resolutions() // each message id exactly once
//	p.Disconnected(now)               // the connection broke
//
// Frames from a connection must not be handed to the engine after
// Disconnected: sequence numbers restart at 1 on every connection, so an old
// connection's confirm would name a new connection's publish.
type Publisher struct {
	cfg     PublisherConfig
	backoff Backoff
	retry   map[uint16]bool

	pending   map[string]*pubEntry
	bySeq     seqIndex
	connected bool
	nextSeq   uint64
	nextOrder uint64
	inFlight  int // entries with onWire set

	waiting   []*pubEntry // not on the wire, in add order, from waitHead on
	waitHead  int
	due       []*pubEntry // on the wire, confirm overdue, to resend
	deadlines deadlineHeap

	slab []pubEntry // entries are carved from slabs, see newEntry
	// Entries and buffers of resolved messages, kept for the next adds
	// (at most Window of each; see recycle).
	freeEntries []*pubEntry
	freeBufs    [][]byte
	hits        []*pubEntry // HandleConfirm's scratch
	out         []wire.Publish
	outPre      []*Prefix // the prefix of each frame in out
	resolved    []Resolution
	stats       PublisherStats
}

// NewPublisher returns a disconnected publisher. Call Connected once the
// transport is up.
func NewPublisher(cfg PublisherConfig) *Publisher {
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = defaultConfirmTimeout
	}
	if cfg.MaxConfirmTimeout <= 0 {
		cfg.MaxConfirmTimeout = defaultMaxConfirmTimeout
	}
	p := &Publisher{
		cfg:     cfg,
		backoff: Backoff{Min: cfg.ConfirmTimeout, Max: cfg.MaxConfirmTimeout, Jitter: cfg.Jitter},
		retry:   make(map[uint16]bool, len(cfg.RetryCodes)),
		pending: make(map[string]*pubEntry),
		nextSeq: 1,
	}
	for _, c := range cfg.RetryCodes {
		p.retry[c] = true
	}
	return p
}

// Add queues a message for publishing. It is sent by a later Poll, as soon
// as the publisher is connected and the window has room. The engine itself
// holds any number of pending messages; a driver that wants back-pressure
// waits while Pending() >= its limit.
func (p *Publisher) Add(m Message) error {
	return p.add(m, false)
}

// AddCopy is Add for a caller that wants to reuse m.Body at once: the
// engine copies the body into the same allocation as the frame's other
// fields, so a publish costs one buffer, not two.
func (p *Publisher) AddCopy(m Message) error {
	return p.add(m, true)
}

func (p *Publisher) add(m Message, copyBody bool) error {
	if m.ID == "" {
		return ErrEmptyID
	}
	if _, ok := p.pending[m.ID]; ok {
		return fmt.Errorf("add message %q: %w", m.ID, ErrAlreadyPending)
	}
	// One allocation for the frame fields (and the body when copying).
	n := len(m.ID) + len(m.Exchange) + len(m.RoutingKey)
	if copyBody {
		n += len(m.Body)
	}
	buf := p.newBuf(n)
	buf = append(buf, m.ID...)
	buf = append(buf, m.Exchange...)
	buf = append(buf, m.RoutingKey...)
	i, x, k := len(m.ID), len(m.ID)+len(m.Exchange), len(buf)
	if copyBody {
		buf = append(buf, m.Body...)
		m.Body = buf[k:]
	}
	e := p.newEntry()
	*e = pubEntry{
		msg:      m,
		id:       buf[:i:i],
		exchange: buf[i:x:x],
		rkey:     buf[x:k:k],
		buf:      buf,
		order:    p.nextOrder,
		heapIdx:  -1,
	}
	p.nextOrder++
	p.pending[m.ID] = e
	p.waiting = append(p.waiting, e)
	p.stats.Added++
	return nil
}

// entrySlab is how many entries one allocation holds. Resolved entries
// drop their buffers (see resolve), so a slab kept alive by one pending
// entry pins only small records.
const entrySlab = 64

// newEntry takes a resolved message's entry, or carves one from the
// current slab.
func (p *Publisher) newEntry() *pubEntry {
	if n := len(p.freeEntries); n > 0 {
		e := p.freeEntries[n-1]
		p.freeEntries[n-1] = nil
		p.freeEntries = p.freeEntries[:n-1]
		return e
	}
	if len(p.slab) == 0 {
		p.slab = make([]pubEntry, entrySlab)
	}
	e := &p.slab[0]
	p.slab = p.slab[1:]
	return e
}

// maxRecycledBuf is the largest buffer kept for reuse: larger messages pay
// for their allocation with their size anyway, and an idle publisher then
// holds at most Window x 16 KiB of spare buffers.
const maxRecycledBuf = 16 << 10

// newBuf returns an empty buffer of capacity at least n: a resolved
// message's if one is spare and large enough, else a new one.
func (p *Publisher) newBuf(n int) []byte {
	if k := len(p.freeBufs); k > 0 {
		b := p.freeBufs[k-1]
		p.freeBufs[k-1] = nil
		p.freeBufs = p.freeBufs[:k-1]
		if cap(b) >= n {
			return b
		}
	}
	return make([]byte, 0, n)
}

// recycle keeps a resolved entry and its buffer for later adds. The engine
// owns both: the buffer holds its own copies of the frame fields (and of
// the body with AddCopy; with Add the body stays the caller's and is not
// kept). No list reaches a resolved entry but the due list, until the next
// Poll clears it; Poll skips an entry whose due flag is off, which a reused
// entry's is until that Poll has sent it.
func (p *Publisher) recycle(e *pubEntry) {
	if b := e.buf; b != nil && cap(b) <= maxRecycledBuf && len(p.freeBufs) < p.cfg.Window {
		p.freeBufs = append(p.freeBufs, b[:0])
	}
	e.buf = nil
	if len(p.freeEntries) < p.cfg.Window {
		p.freeEntries = append(p.freeEntries, e)
	}
}

// Connected starts a new connection: sequence numbers restart at 1 and every
// unconfirmed message (including those sent on an earlier connection) will be
// sent again, with the same id, in add order. Calling it while connected
// first ends the current connection, as Disconnected would.
func (p *Publisher) Connected(now time.Time) {
	if p.connected {
		p.Disconnected(now)
	}
	p.connected = true
	p.nextSeq = 1
	p.stats.Connections++
}

// Disconnected ends the current connection. Whatever it carried is forgotten
// on the wire side (its sequence numbers mean nothing any more) and every
// unconfirmed message goes back to the waiting line, ahead of messages never
// sent, to be resent after the next Connected.
func (p *Publisher) Disconnected(now time.Time) {
	if !p.connected {
		return
	}
	p.connected = false
	p.bySeq.reset()
	p.deadlines.clear()
	p.due = p.due[:0]
	back := make([]*pubEntry, 0, p.inFlight)
	for _, e := range p.pending {
		if e.onWire {
			e.onWire, e.due = false, false
			e.seq, e.moreSeqs = 0, e.moreSeqs[:0]
			e.attempts = 0
			back = append(back, e)
		}
	}
	p.inFlight = 0
	if len(back) == 0 {
		return
	}
	rest := p.waiting[p.waitHead:]
	merged := make([]*pubEntry, 0, len(back)+len(rest))
	merged = append(merged, back...)
	merged = append(merged, rest...)
	slices.SortFunc(merged, func(a, b *pubEntry) int {
		switch {
		case a.order < b.order:
			return -1
		case a.order > b.order:
			return 1
		}
		return 0
	})
	p.waiting, p.waitHead = merged, 0
}

// Tick moves every message whose confirm is overdue at now to the resend
// list. Poll calls it; a driver may also call it alone.
func (p *Publisher) Tick(now time.Time) {
	for len(p.deadlines) > 0 && !p.deadlines[0].deadline.After(now) {
		e := p.deadlines.pop()
		e.due = true
		p.due = append(p.due, e)
		p.stats.Timeouts++
	}
}

// NextDeadline returns the earliest instant at which a confirm becomes
// overdue, and false when no confirm is awaited. Call Poll then.
func (p *Publisher) NextDeadline() (time.Time, bool) {
	if len(p.deadlines) == 0 {
		return time.Time{}, false
	}
	return p.deadlines[0].deadline, true
}

// Poll returns the publish frames to send now, in order: first resends of
// overdue messages (in add order), then waiting messages while the window
// has room. It
// returns nothing while disconnected. The slice and the frames' byte fields
// are valid until the next Poll or Add/AddCopy, whichever comes first (the
// buffers of resolved messages are reused by later adds); the byte fields
// must not be modified.
func (p *Publisher) Poll(now time.Time) []wire.Publish {
	p.out = p.out[:0]
	clear(p.outPre) // pins no prefix of an earlier Poll
	p.outPre = p.outPre[:0]
	if !p.connected {
		return p.out
	}
	p.Tick(now)
	// Tick lists overdue messages by deadline, and jitter or a doubled
	// timeout can put a later-added message's deadline first. Resends go
	// out in add order: if the first attempts were refused (queue full)
	// and the resends accepted, the queue then holds them in publish order
	// (I5).
	if len(p.due) > 1 {
		slices.SortFunc(p.due, func(a, b *pubEntry) int { return cmp.Compare(a.order, b.order) })
	}
	for i, e := range p.due {
		p.due[i] = nil
		if e.resolved || !e.due {
			continue
		}
		e.due = false
		p.send(e, now)
	}
	p.due = p.due[:0]
	for p.waitHead < len(p.waiting) && p.inFlight < p.cfg.Window {
		e := p.waiting[p.waitHead]
		p.waiting[p.waitHead] = nil
		p.waitHead++
		if e.resolved {
			continue
		}
		e.onWire = true
		p.inFlight++
		p.send(e, now)
	}
	p.compactWaiting()
	return p.out
}

// send emits one publish frame for e with a fresh sequence number.
func (p *Publisher) send(e *pubEntry, now time.Time) {
	seq := p.nextSeq
	p.nextSeq++
	p.bySeq.put(seq, e)
	if e.seq == 0 {
		e.seq = seq
	} else {
		e.moreSeqs = append(e.moreSeqs, seq)
	}
	e.attempts++
	e.sends++
	p.stats.Sent++
	if e.sends > 1 {
		p.stats.Resent++
	}
	p.deadlines.schedule(e, now.Add(p.backoff.Delay(e.attempts, p.cfg.Rand)))
	p.outPre = append(p.outPre, e.msg.Prefix)
	p.out = append(p.out, wire.Publish{
		Seq:        seq,
		Exchange:   e.exchange,
		RoutingKey: e.rkey,
		MessageID:  e.id,
		Body:       e.msg.Body,
	})
}

// Prefixes returns, for each frame the last Poll returned, its message's
// prefix (nil: none), at the same index. A frame's Body is the part after
// the prefix: the driver sends the prefix by reference (a PublishRef on a
// connection with shared prefixes) or joined in front of Body.
func (p *Publisher) Prefixes() []*Prefix { return p.outPre }

// compactWaiting drops the consumed head of the waiting line once it is the
// larger part, so the line does not grow without bound.
func (p *Publisher) compactWaiting() {
	if p.waitHead == 0 {
		return
	}
	if p.waitHead == len(p.waiting) {
		p.waiting, p.waitHead = p.waiting[:0], 0
		return
	}
	if p.waitHead > len(p.waiting)/2 {
		n := copy(p.waiting, p.waiting[p.waitHead:])
		clear(p.waiting[n:])
		p.waiting, p.waitHead = p.waiting[:n], 0
	}
}

// HandleConfirm resolves as Confirmed every pending publish with a sequence
// number in [c.First, c.Last]. Numbers it does not know (an earlier attempt
// of a message already resolved, a duplicated frame) are ignored. It returns
// how many messages it resolved.
func (p *Publisher) HandleConfirm(c wire.Confirm) int {
	if c.First == 0 || c.First > c.Last {
		p.stats.Stale++
		return 0
	}
	hits := p.hits[:0]
	if lo, hi, ok := p.bySeq.span(c.First, c.Last); ok {
		for s := lo; ; s++ {
			if e := p.bySeq.get(s); e != nil {
				hits = append(hits, e)
			}
			if s == hi {
				break
			}
		}
	}
	defer func() {
		clear(hits)
		p.hits = hits[:0]
	}()
	n := 0
	for _, e := range hits {
		if e.resolved {
			continue // two of its attempts fell in the same range
		}
		p.resolve(e, Resolution{Outcome: Confirmed, Durable: c.Durable})
		n++
	}
	if n == 0 {
		p.stats.Stale++
	}
	return n
}

// HandleConfirmDup resolves the publish d.Seq as Duplicate. It reports
// whether a pending message was resolved.
func (p *Publisher) HandleConfirmDup(d wire.ConfirmDup) bool {
	e := p.bySeq.get(d.Seq)
	if e == nil {
		p.stats.Stale++
		return false
	}
	p.resolve(e, Resolution{Outcome: Duplicate, Durable: d.Durable})
	return true
}

// HandleNack resolves the publish n.Seq as Refused with the broker's code and
// reason, unless the code is one of RetryCodes: then the message stays
// pending and goes out again when its confirm timeout expires. It reports
// whether a pending message was resolved.
func (p *Publisher) HandleNack(n wire.Nack) bool {
	e := p.bySeq.get(n.Seq)
	if e == nil {
		p.stats.Stale++
		return false
	}
	if p.retry[n.Code] {
		p.stats.RetryNacks++
		return false
	}
	p.resolve(e, Resolution{Outcome: Refused, Code: n.Code, Reason: n.Reason})
	return true
}

// resolve records the final answer for e and forgets it.
func (p *Publisher) resolve(e *pubEntry, r Resolution) {
	e.resolved = true
	delete(p.pending, e.msg.ID)
	if e.seq != 0 {
		p.bySeq.del(e.seq)
	}
	for _, s := range e.moreSeqs {
		p.bySeq.del(s)
	}
	p.deadlines.remove(e)
	if e.onWire {
		e.onWire = false
		p.inFlight--
	}
	r.ID = e.msg.ID
	r.Sends = e.sends
	r.Token = e.msg.Token
	// Lists may still point at e (checked through e.resolved), and its slab
	// lives on while any neighbour is pending: let the buffers go now.
	e.msg = Message{}
	e.id, e.exchange, e.rkey, e.moreSeqs = nil, nil, nil, nil
	p.recycle(e)
	switch r.Outcome {
	case Confirmed:
		p.stats.Confirmed++
	case Duplicate:
		p.stats.Duplicates++
	case Refused:
		p.stats.Refused++
	}
	p.resolved = append(p.resolved, r)
}

// Resolutions returns the messages resolved since the last call, in the
// order they were resolved, and hands the slice to the caller.
func (p *Publisher) Resolutions() []Resolution {
	r := p.resolved
	p.resolved = nil
	return r
}

// AppendResolutions appends the messages resolved since the last call to
// dst and returns it, for a driver that reuses one slice instead of taking
// a new one per batch as Resolutions does.
func (p *Publisher) AppendResolutions(dst []Resolution) []Resolution {
	dst = append(dst, p.resolved...)
	clear(p.resolved)
	p.resolved = p.resolved[:0]
	return dst
}

// PendingTokens appends the Tokens of every message not yet resolved to
// dst, in add order, for a driver that gives up on them all.
func (p *Publisher) PendingTokens(dst []any) []any {
	es := make([]*pubEntry, 0, len(p.pending))
	for _, e := range p.pending {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *pubEntry) int { return cmp.Compare(a.order, b.order) })
	for _, e := range es {
		dst = append(dst, e.msg.Token)
	}
	return dst
}

// Pending is the number of added messages not yet resolved.
func (p *Publisher) Pending() int { return len(p.pending) }

// InFlight is the number of messages sent on the current connection and not
// yet answered. It never exceeds the window.
func (p *Publisher) InFlight() int { return p.inFlight }

// Window is the configured in-flight window.
func (p *Publisher) Window() int { return p.cfg.Window }

// IsPending reports whether message id is added and not yet resolved.
func (p *Publisher) IsPending(id string) bool {
	_, ok := p.pending[id]
	return ok
}

// IsConnected reports whether the engine is between Connected and
// Disconnected.
func (p *Publisher) IsConnected() bool { return p.connected }

// Stats returns the cumulative counters.
func (p *Publisher) Stats() PublisherStats { return p.stats }
