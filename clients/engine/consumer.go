package engine

import (
	"fmt"
	"slices"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// SeenSet answers whether a message id was already processed durably. The
// receiver's store owns that set; the engine only asks.
type SeenSet interface {
	Seen(id string) bool
}

// SeenFunc adapts a function to SeenSet.
type SeenFunc func(id string) bool

// Seen calls f.
func (f SeenFunc) Seen(id string) bool { return f(id) }

// Decision says what the driver must do with a delivery after Handle.
type Decision uint8

const (
	// Process: a new message. Hand it to the application, then call Settle
	// with the application's outcome.
	Process Decision = iota + 1
	// AckDuplicate: the id was already processed. The engine queued an ack;
	// the application must not see the message.
	AckDuplicate
	// Parked: a delivery of the same id is being processed right now (the
	// broker redelivered it, for example after an ack timeout). The engine
	// settles this one together with that one: an ack if it is stored, a
	// requeue otherwise. The application must not see it.
	Parked
	// Ignored: the frame repeats a delivery already seen on this connection,
	// or arrived while disconnected. Nothing to do.
	Ignored
)

// String names the decision for logs and test output.
func (d Decision) String() string {
	switch d {
	case Process:
		return "process"
	case AckDuplicate:
		return "ack-duplicate"
	case Parked:
		return "parked"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("decision(%d)", uint8(d))
}

// Ref names one delivery across reconnects: delivery tags restart on every
// connection, so a tag alone could name a delivery of a newer connection.
type Ref struct {
	Epoch uint64 // which connection (counts Connected calls)
	Tag   uint64 // the delivery tag on that connection
}

// Result is the application's verdict on one delivery.
type Result uint8

const (
	// Stored: the message is processed and durable. Ack it.
	Stored Result = iota + 1
	// Transient: processing failed for now. Requeue it (NackDelivery with
	// Requeue) so it is delivered again.
	Transient
	// Permanent: the message can never be processed (for example it fails
	// to decrypt). Reject it to the dead-letter queue.
	Permanent
)

// SettleKind is the frame a Settlement becomes.
type SettleKind uint8

const (
	SettleAck    SettleKind = iota + 1 // wire.Ack
	SettleNack                         // wire.NackDelivery with Requeue
	SettleReject                       // wire.Reject
)

// Settlement is one frame the consumer engine wants sent.
type Settlement struct {
	Kind        SettleKind
	DeliveryTag uint64
	// Multiple (acks only): every outstanding tag up to DeliveryTag.
	Multiple bool
	// Reason (rejects only): why, as given to SettleReason. A driver whose
	// connection did not negotiate wire.FeatureRejectReasons clears it
	// before sending.
	Reason wire.RejectReason
}

// Frame returns the wire frame: a *wire.Ack, *wire.NackDelivery or
// *wire.Reject.
func (s Settlement) Frame() wire.Frame {
	switch s.Kind {
	case SettleNack:
		return &wire.NackDelivery{DeliveryTag: s.DeliveryTag, Requeue: true}
	case SettleReject:
		return &wire.Reject{DeliveryTag: s.DeliveryTag, Reason: s.Reason}
	}
	return &wire.Ack{DeliveryTag: s.DeliveryTag, Multiple: s.Multiple}
}

// AppendTo encodes the settlement's frame onto dst without allocating.
func (s Settlement) AppendTo(dst []byte) []byte {
	switch s.Kind {
	case SettleNack:
		return wire.AppendNackDelivery(dst, &wire.NackDelivery{DeliveryTag: s.DeliveryTag, Requeue: true})
	case SettleReject:
		return wire.AppendReject(dst, &wire.Reject{DeliveryTag: s.DeliveryTag, Reason: s.Reason})
	}
	return wire.AppendAck(dst, &wire.Ack{DeliveryTag: s.DeliveryTag, Multiple: s.Multiple})
}

// ConsumerConfig tunes a Consumer.
type ConsumerConfig struct {
	// Prefetch is the most unacked deliveries the broker may have
	// outstanding on this connection: the sum of the prefetch of its
	// consumers. The engine counts deliveries beyond it in
	// Stats.PrefetchExceeded, and those later explained by an expired ack
	// timeout in Stats.PrefetchExcused (see ConsumerStats.PrefetchViolations).
	// Zero: no check.
	Prefetch int
	// Seen is the set of already processed ids. Nil: nothing is ever seen.
	Seen SeenSet
	// MaxTrackedTags bounds the bookkeeping of delivery tags above the
	// contiguous low-water mark, which only grows when frames are lost or
	// reordered (default 65536). Beyond it the engine forgets the lowest
	// half: it may then ignore a very late frame (the broker redelivers it
	// after its ack timeout) and stops batching acks on that connection.
	MaxTrackedTags int
}

const defaultMaxTrackedTags = 1 << 16

// ConsumerStats are cumulative counters since NewConsumer.
type ConsumerStats struct {
	Received         uint64 // deliver frames handled
	Delivered        uint64 // handed to the application (Process)
	Duplicates       uint64 // acked without the application (seen, or parked behind a stored twin)
	Parked           uint64 // deliveries parked behind an in-progress twin
	Ignored          uint64 // repeated frames, frames while disconnected
	Acked            uint64 // deliveries acked (a Multiple ack counts each)
	AckFrames        uint64 // ack frames produced
	MultipleAcks     uint64 // of which Multiple
	Nacked           uint64 // deliveries requeued
	Rejected         uint64 // deliveries dead-lettered
	Stale            uint64 // settlements for forgotten deliveries
	AckRefused       uint64 // AckRefused frames from the broker
	PrefetchExceeded uint64 // deliveries beyond Prefetch, as counted when they arrived
	PrefetchExcused  uint64 // of those, explained since by an expired ack timeout
	Expired          uint64 // deliveries held here that a redelivery showed the broker took back
	Forgotten        uint64 // deliveries dropped by Disconnected (the broker requeues them)
}

// PrefetchViolations is the number of deliveries beyond the prefetch that
// no expired ack timeout explains: the broker broke its promise (I6).
//
// When an ack timeout expires while the application still processes a
// delivery, the broker requeues it and frees its slot at once, but the
// engine keeps it outstanding until the application settles it; the next
// delivery then looks like one too many. The engine learns of the expiry in
// one of two ways: the broker redelivers the same message on this
// connection while the first delivery is still held here (that delivery
// then stops counting at once, and excesses counted while it was held are
// excused), or the broker answers the late settlement with
// AckRefused (every excess counted while that delivery was outstanding is
// then excused, one refused tag per delivery too many). An excess whose
// explanation never arrives (the connection broke first) stays counted.
func (s ConsumerStats) PrefetchViolations() uint64 { return s.PrefetchExceeded - s.PrefetchExcused }

// prefetchSuspect is a delivery that arrived beyond the prefetch and is not
// explained yet.
type prefetchSuspect struct {
	// excess is how many deliveries too many the connection held then,
	// minus the refused tags that explained some of them since.
	excess int
	// tags are the deliveries outstanding then and not known expired: the
	// ones whose AckRefused would explain the excess.
	tags []uint64
}

// maxPrefetchSuspects bounds the unexplained excesses remembered per
// connection; beyond it the oldest stays counted and is never excused.
const maxPrefetchSuspects = 1024

type delState uint8

const (
	stProcessing delState = iota + 1
	stParked
	stAck
	stNack
	stReject
)

type inDelivery struct {
	id    string
	state delState
	twins []uint64 // processing deliveries only: parked tags of the same id
	// expired: the broker redelivered this id while this delivery was
	// still held here, so its ack timeout expired and the broker no longer
	// counts it against the prefetch.
	expired bool
	// reason: why it is rejected (stReject only).
	reason wire.RejectReason
}

// Consumer is the deterministic consuming state machine of one connection:
// it tracks every delivery of the connection (of all its consumers, because
// a Multiple ack covers the whole connection), drops duplicates, and turns
// the application's verdicts into ack, nack and reject frames, batching acks
// into one Multiple ack where that is provably safe. Like Publisher it never
// blocks, starts no goroutine, reads no clock and is not safe for concurrent
// use.
//
// The driver's loop:
//
//	c.Connected()                     // after each handshake
//	ref, dec := c.Handle(&deliver)    // each Deliver frame; on Process hand it to the app
//	c.Settle(ref, Stored)             // the app's verdict, any time later
//	for _, s := range c.Poll() { send(s.Frame()) }
//	c.Disconnected()                  // the connection broke: all its deliveries are forgotten
//
// Multiple acks: an Ack{Multiple} for tag N acks every tag <= N the broker
// holds for the connection, including ones whose Deliver frame was lost and
// ones whose nack or reject frame was lost. So the engine sends one only for
// a run of tags that starts right above everything already acked and in which
// every tag was seen and is being acked: tags are counted from 1, and a
// connection that ever nacks or rejects, or loses a Deliver frame, falls back
// to single acks below that point. That keeps batching on healthy links and
// is never wrong on lossy ones.
type Consumer struct {
	cfg       ConsumerConfig
	epoch     uint64
	connected bool

	outstanding map[uint64]*inDelivery
	processing  map[string]uint64 // id -> tag being processed by the application
	ready       []uint64          // settled tags, in settle order, to emit

	// Tags seen on this connection: all of 1..seenFloor, plus seenAbove.
	seenFloor uint64
	seenAbove map[uint64]struct{}
	// Tags acked on this connection: all of 1..ackFloor (those the broker
	// still holds may be re-acked by a Multiple), plus ackedAbove (single
	// acks waiting for the gap below them to close).
	ackFloor   uint64
	ackedAbove map[uint64]struct{}
	// blockedAt is the lowest tag settled by a nack or reject on this
	// connection (0: none). The ack floor can never pass it, so single acks
	// above it are not remembered.
	blockedAt uint64

	// expired counts the outstanding deliveries marked expired; suspects
	// are the deliveries beyond the prefetch not explained yet.
	expired  int
	suspects []prefetchSuspect

	slab  []inDelivery  // records are carved from slabs, see newInDelivery
	free  []*inDelivery // forgotten records, reused first (at most maxFreeDeliveries)
	out   []Settlement
	stats ConsumerStats
}

// deliverySlab is how many delivery records one allocation holds. A slab
// lives while any of its records is outstanding, so a record is zeroed when
// it leaves outstanding: its id may share a buffer with the message's body
// (HandleSeenID), which must not stay pinned by a neighbour.
const deliverySlab = 64

// maxFreeDeliveries bounds the forgotten records kept for reuse: a full
// prefetch window's worth at the default prefetch, several times over.
const maxFreeDeliveries = 1024

func (c *Consumer) newInDelivery() *inDelivery {
	if n := len(c.free); n > 0 {
		d := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		return d
	}
	if len(c.slab) == 0 {
		c.slab = make([]inDelivery, deliverySlab)
	}
	d := &c.slab[0]
	c.slab = c.slab[1:]
	return d
}

// NewConsumer returns a disconnected consumer engine.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	if cfg.MaxTrackedTags <= 0 {
		cfg.MaxTrackedTags = defaultMaxTrackedTags
	}
	return &Consumer{
		cfg:         cfg,
		outstanding: make(map[uint64]*inDelivery),
		processing:  make(map[string]uint64),
		seenAbove:   make(map[uint64]struct{}),
		ackedAbove:  make(map[uint64]struct{}),
	}
}

// Connected starts a new connection (a new epoch): delivery tags restart.
// Calling it while connected first ends the current connection.
func (c *Consumer) Connected() {
	if c.connected {
		c.Disconnected()
	}
	c.connected = true
	c.epoch++
}

// Disconnected forgets every delivery of the current connection: the broker
// requeues them, and their tags mean nothing on the next connection, so no
// settlement for them is ever sent. Settling one later returns
// ErrStaleDelivery.
func (c *Consumer) Disconnected() {
	if !c.connected {
		return
	}
	c.connected = false
	c.stats.Forgotten += uint64(len(c.outstanding))
	for _, d := range c.outstanding {
		*d = inDelivery{} // see deliverySlab
	}
	clear(c.outstanding)
	c.expired = 0
	clear(c.suspects)
	c.suspects = c.suspects[:0]
	clear(c.processing)
	clear(c.seenAbove)
	clear(c.ackedAbove)
	c.ready = c.ready[:0]
	c.seenFloor, c.ackFloor, c.blockedAt = 0, 0, 0
}

// SetPrefetch changes the prefetch the engine checks deliveries against, for
// a driver that adds or cancels consumers on the connection.
func (c *Consumer) SetPrefetch(n int) { c.cfg.Prefetch = n }

// Epoch is the current connection's epoch (0 before the first Connected).
func (c *Consumer) Epoch() uint64 { return c.epoch }

// Handle takes one Deliver frame of the current connection and decides what
// happens to it, asking the configured SeenSet. The frame is not retained.
func (c *Consumer) Handle(d *wire.Deliver) (Ref, Decision) {
	return c.HandleSeen(d, c.cfg.Seen)
}

// HandleSeen is Handle with a SeenSet for this delivery only: a connection
// carrying several consumers, each with its own store, passes the one of the
// consumer the delivery is for. A nil seen means nothing was seen.
func (c *Consumer) HandleSeen(d *wire.Deliver, seen SeenSet) (Ref, Decision) {
	return c.handle(d, "", seen)
}

// HandleSeenID is HandleSeen for a driver that already holds the message
// id as a string (id must equal d.MessageID): the engine keeps that string
// instead of making its own copy.
func (c *Consumer) HandleSeenID(d *wire.Deliver, id string, seen SeenSet) (Ref, Decision) {
	if id != string(d.MessageID) {
		panic("engine: HandleSeenID called with an id that is not the frame's")
	}
	return c.handle(d, id, seen)
}

func (c *Consumer) handle(d *wire.Deliver, id string, seen SeenSet) (Ref, Decision) {
	ref := Ref{Epoch: c.epoch, Tag: d.DeliveryTag}
	c.stats.Received++
	if !c.connected || d.DeliveryTag == 0 || !c.markSeen(d.DeliveryTag) {
		c.stats.Ignored++
		return ref, Ignored
	}
	if id == "" {
		id = string(d.MessageID)
	}
	if d.Flags&wire.FlagRedelivered != 0 || d.DeliveryCount > 1 {
		c.markExpired(id)
	}
	del := c.newInDelivery()
	del.id = id
	c.outstanding[d.DeliveryTag] = del
	if seen != nil && seen.Seen(id) {
		del.state = stAck
		c.ready = append(c.ready, d.DeliveryTag)
		c.stats.Duplicates++
		c.checkPrefetch()
		return ref, AckDuplicate
	}
	if tag, busy := c.processing[id]; busy {
		del.state = stParked
		owner := c.outstanding[tag]
		owner.twins = append(owner.twins, d.DeliveryTag)
		c.stats.Parked++
		c.checkPrefetch()
		return ref, Parked
	}
	del.state = stProcessing
	c.processing[id] = d.DeliveryTag
	c.stats.Delivered++
	c.checkPrefetch()
	return ref, Process
}

// markExpired is called for a redelivery of id: an earlier delivery of id
// still outstanding here (being processed, or settled but not yet sent)
// is one the broker took back after its ack timeout, so it no longer counts
// against the prefetch. Redeliveries are rare, so the scan costs little.
func (c *Consumer) markExpired(id string) {
	for tag, o := range c.outstanding {
		if o.id == id && !o.expired {
			o.expired = true
			c.expired++
			c.stats.Expired++
			c.explain(tag)
		}
	}
}

// checkPrefetch counts the delivery just added if the connection now holds
// more deliveries the broker should count than the prefetch allows, and
// remembers which deliveries could still explain it.
func (c *Consumer) checkPrefetch() {
	held := len(c.outstanding) - c.expired
	if c.cfg.Prefetch <= 0 || held <= c.cfg.Prefetch {
		return
	}
	c.stats.PrefetchExceeded++
	// The new delivery is a candidate too: on a link that reorders, it may
	// be an old one, delivered before its ack timeout and arriving after.
	tags := make([]uint64, 0, len(c.outstanding))
	for t, d := range c.outstanding {
		if !d.expired {
			tags = append(tags, t)
		}
	}
	if len(c.suspects) == maxPrefetchSuspects {
		c.suspects[0] = prefetchSuspect{}
		c.suspects = c.suspects[1:]
	}
	c.suspects = append(c.suspects, prefetchSuspect{excess: held - c.cfg.Prefetch, tags: tags})
}

// forget removes an outstanding delivery record.
func (c *Consumer) forget(tag uint64, d *inDelivery) {
	delete(c.outstanding, tag)
	if d.expired {
		c.expired--
	}
	*d = inDelivery{} // see deliverySlab
	// Nothing else points at a record (a Ref names it by epoch and tag),
	// so the next delivery can have it.
	if len(c.free) < maxFreeDeliveries {
		c.free = append(c.free, d)
	}
}

// markSeen records tag as seen and reports false if it was seen before.
func (c *Consumer) markSeen(tag uint64) bool {
	if tag <= c.seenFloor {
		return false
	}
	if _, dup := c.seenAbove[tag]; dup {
		return false
	}
	if tag == c.seenFloor+1 {
		c.seenFloor = tag
		c.drainSeen()
		return true
	}
	c.seenAbove[tag] = struct{}{}
	if len(c.seenAbove) > c.cfg.MaxTrackedTags {
		// A gap that does not close (a lost frame). Give up on the lower
		// half: treat everything up to its top as seen.
		tags := make([]uint64, 0, len(c.seenAbove))
		for t := range c.seenAbove {
			tags = append(tags, t)
		}
		slices.Sort(tags)
		cut := tags[len(tags)/2]
		for _, t := range tags {
			if t > cut {
				break
			}
			delete(c.seenAbove, t)
		}
		c.seenFloor = cut
		c.drainSeen()
	}
	return true
}

// drainSeen advances seenFloor over the tags just above it.
func (c *Consumer) drainSeen() {
	for {
		if _, ok := c.seenAbove[c.seenFloor+1]; !ok {
			return
		}
		delete(c.seenAbove, c.seenFloor+1)
		c.seenFloor++
	}
}

// Settle records the application's verdict on a delivery Handle returned
// Process for. Settlements of the parked twins of that delivery follow from
// it. The frames go out with the next Poll.
func (c *Consumer) Settle(r Ref, res Result) error {
	return c.SettleReason(r, res, wire.ReasonNone)
}

// SettleReason is Settle with the reason of a Permanent verdict, sent in
// the Reject frame (wire.ReasonNone: none). A reason with another verdict
// is refused (ErrUnknownOutcome).
func (c *Consumer) SettleReason(r Ref, res Result, reason wire.RejectReason) error {
	if reason != wire.ReasonNone && res != Permanent {
		return fmt.Errorf("settle tag %d: %w (a reason with verdict %d: only a rejection has one)", r.Tag, ErrUnknownOutcome, res)
	}
	if res < Stored || res > Permanent {
		return fmt.Errorf("settle tag %d: %w (%d)", r.Tag, ErrUnknownOutcome, res)
	}
	if !c.connected || r.Epoch != c.epoch {
		c.stats.Stale++
		return fmt.Errorf("settle tag %d of connection %d: %w", r.Tag, r.Epoch, ErrStaleDelivery)
	}
	d, ok := c.outstanding[r.Tag]
	if !ok || d.state >= stAck {
		c.stats.Stale++
		return fmt.Errorf("settle tag %d: %w", r.Tag, ErrStaleDelivery)
	}
	if d.state != stProcessing {
		return fmt.Errorf("settle tag %d: %w", r.Tag, ErrNotProcessing)
	}
	delete(c.processing, d.id)
	switch res {
	case Stored:
		d.state = stAck
	case Transient:
		d.state = stNack
	case Permanent:
		d.state = stReject
		d.reason = reason
	}
	c.ready = append(c.ready, r.Tag)
	for _, t := range d.twins {
		tw := c.outstanding[t]
		if res == Stored {
			tw.state = stAck
			c.stats.Duplicates++
		} else {
			// Not stored: the twin goes back to the queue and is processed
			// on its own later (it may even be the valid one of the two).
			tw.state = stNack
		}
		c.ready = append(c.ready, t)
	}
	d.twins = nil
	return nil
}

// HandleAckRefused counts a broker report that a settlement named a tag it
// does not hold (the delivery was redelivered since, after an ack timeout).
// The redelivery is handled on its own; the refusal only explains
// deliveries counted beyond the prefetch while the expired one was still
// outstanding here (see ConsumerStats.PrefetchViolations).
func (c *Consumer) HandleAckRefused(a wire.AckRefused) {
	c.stats.AckRefused++
	c.explain(a.DeliveryTag)
}

// explain learns that the broker no longer held delivery tag (its ack
// timeout expired): every excess counted while tag was outstanding here is
// one delivery less unexplained.
func (c *Consumer) explain(tag uint64) {
	if len(c.suspects) == 0 {
		return
	}
	kept := c.suspects[:0]
	for _, s := range c.suspects {
		if i := slices.Index(s.tags, tag); i >= 0 {
			// Removed, so a repeated refusal of the same tag explains nothing more.
			s.tags = slices.Delete(s.tags, i, i+1)
			s.excess--
		}
		if s.excess <= 0 {
			c.stats.PrefetchExcused++
			continue
		}
		kept = append(kept, s)
	}
	clear(c.suspects[len(kept):])
	c.suspects = kept
}

// Poll returns the settlement frames to send now: first at most one Multiple
// ack for the longest safe run of acks, then single frames in settle order.
// The slice is valid until the next Poll.
func (c *Consumer) Poll() []Settlement {
	c.out = c.out[:0]
	if !c.connected || len(c.ready) == 0 {
		return c.out
	}
	taken, last := 0, uint64(0)
	next := c.ackFloor + 1
	// While an excess beyond the prefetch is unexplained, acks go out one
	// by one: a Multiple ack silently skips a tag the broker no longer
	// holds, where a single ack draws the AckRefused that explains it.
	batch := len(c.suspects) == 0
	for {
		if d, ok := c.outstanding[next]; ok && d.state == stAck && (taken == 0 || batch) {
			c.forget(next, d)
			taken++
			last = next
		} else if _, ok := c.ackedAbove[next]; ok {
			delete(c.ackedAbove, next)
		} else {
			break
		}
		next++
	}
	c.ackFloor = next - 1
	if taken > 0 {
		c.out = append(c.out, Settlement{Kind: SettleAck, DeliveryTag: last, Multiple: taken > 1})
		c.stats.Acked += uint64(taken)
		c.stats.AckFrames++
		if taken > 1 {
			c.stats.MultipleAcks++
		}
	}
	for _, tag := range c.ready {
		d, ok := c.outstanding[tag]
		if !ok {
			continue // acked by the Multiple above
		}
		state, reason := d.state, d.reason
		c.forget(tag, d)
		switch state {
		case stAck:
			c.out = append(c.out, Settlement{Kind: SettleAck, DeliveryTag: tag})
			c.stats.Acked++
			c.stats.AckFrames++
			if (c.blockedAt == 0 || tag < c.blockedAt) && len(c.ackedAbove) < c.cfg.MaxTrackedTags {
				c.ackedAbove[tag] = struct{}{}
			}
		case stNack:
			c.out = append(c.out, Settlement{Kind: SettleNack, DeliveryTag: tag})
			c.stats.Nacked++
			c.block(tag)
		case stReject:
			c.out = append(c.out, Settlement{Kind: SettleReject, DeliveryTag: tag, Reason: reason})
			c.stats.Rejected++
			c.block(tag)
		}
	}
	c.ready = c.ready[:0]
	return c.out
}

// block records a nack or reject of tag: if its frame were lost, a Multiple
// ack over it would ack it, so no run of acks may ever cover it, and the
// single acks above it need not be remembered.
func (c *Consumer) block(tag uint64) {
	if c.blockedAt != 0 && tag > c.blockedAt {
		return
	}
	c.blockedAt = tag
	for t := range c.ackedAbove {
		if t > tag {
			delete(c.ackedAbove, t)
		}
	}
}

// Outstanding is the number of deliveries of the current connection not yet
// settled on the wire (being processed, parked, or settled but not polled).
func (c *Consumer) Outstanding() int { return len(c.outstanding) }

// IsConnected reports whether the engine is between Connected and
// Disconnected.
func (c *Consumer) IsConnected() bool { return c.connected }

// Stats returns the cumulative counters.
func (c *Consumer) Stats() ConsumerStats { return c.stats }
