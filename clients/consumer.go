package clients

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
)

// Delivery is one message handed to a handler. It is the handler's to keep:
// the body is a copy.
type Delivery struct {
	MessageID string
	// Body is the message's body; with ConsumerOptions.SplitPrefix, only
	// the part after Prefix.
	Body []byte
	// Prefix is nil unless the consumer asked for SplitPrefix and the body
	// arrived as a shared prefix and a rest: then the whole body is
	// Prefix ‖ Body (see WholeBody). Shared between deliveries: never
	// modify it.
	Prefix      []byte
	Queue       string
	Exchange    string
	RoutingKey  string
	ConsumerTag string
	// Redelivered is set when the broker delivered this message before
	// (the earlier attempt was not acked); DeliveryCount counts attempts.
	Redelivered bool
	// DeadLetterReason is why the message was dead-lettered into Queue
	// (wire.ReasonNone: it was not, the rejecting client gave no reason,
	// or the broker predates reasons). See RejectWithReason.
	DeadLetterReason RejectReason
	DeliveryCount    uint64

	ref  engine.Ref
	cs   *Consumer // nil for a fetched message
	conn *Conn
	// Guarded by Conn.mu: settled once acked, nacked or rejected (by the
	// handler's return or explicitly); deferred while the handler returned
	// ErrSettleLater and nothing settled it yet.
	settled, deferred bool
}

// Ack settles the delivery as processed: the broker forgets the message.
// With Nack and Reject it is for handlers that finish asynchronously: a
// handler that returns ErrSettleLater leaves the delivery unsettled, and
// the application calls one of the three later, from any goroutine. A
// handler may also call one of them before returning; its return value
// then settles nothing.
//
// Only the first settlement counts: later calls return ErrAlreadySettled.
// If the connection broke since the delivery arrived, the broker has
// requeued the message already. Its redelivery on the new connection is
// held back while an earlier delivery of its id is unsettled; an Ack then
// acks the redelivery instead (and returns nil), any other settlement lets
// the handler have it. If the redelivery has not arrived yet, the call
// returns an error wrapping ErrDeliveryStale and the handler gets the
// redelivery.
//
// Acks are sent at once, not batched (see ConsumerOptions.SettleBatch for
// the batching of handler verdicts). Until it is settled a delivery counts
// against the prefetch: unsettled deliveries hold back new ones.
func (d *Delivery) Ack() error { return d.settleExplicit(engine.Stored, wire.ReasonNone) }

// Nack settles the delivery as not processed now: the broker requeues the
// message and delivers it again (Redelivered set).
func (d *Delivery) Nack() error { return d.settleExplicit(engine.Transient, wire.ReasonNone) }

// Reject settles the delivery as never processable: the broker moves it to
// its queue's dead-letter queue, or discards it if there is none.
func (d *Delivery) Reject() error { return d.settleExplicit(engine.Permanent, wire.ReasonNone) }

// RejectWithReason is Reject with the reason the broker records on the
// dead-lettered copy (shown by `ciphermq dlq list` and the management
// API). The reason is dropped, and the message still rejected, when the
// broker predates reasons. wire.ReasonDeliveryLimit is the broker's own:
// giving it is refused with ErrInvalid, as is a number outside the table.
func (d *Delivery) RejectWithReason(reason RejectReason) error {
	if err := checkRejectReason(reason); err != nil {
		return fmt.Errorf("reject %q: %w", d.MessageID, err)
	}
	return d.settleExplicit(engine.Permanent, reason)
}

func (d *Delivery) settleExplicit(res engine.Result, reason wire.RejectReason) error {
	cs, c := d.cs, d.conn
	if c == nil {
		return fmt.Errorf("%w: settle %q: the delivery did not come from a consumer or Fetch", ErrInvalid, d.MessageID)
	}
	c.mu.Lock()
	if d.settled {
		c.mu.Unlock()
		return fmt.Errorf("settle %q: %w", d.MessageID, ErrAlreadySettled)
	}
	d.settled = true
	inHandler := cs != nil && !d.deferred // still counted in active by run; released by settle
	d.deferred = false
	s := c.sess
	claimed := c.claimLocked(s)
	err := c.cons.SettleReason(d.ref, res, reason)
	if cs != nil {
		cs.count(res)
	}
	if cs != nil && !inHandler {
		if err != nil && res == engine.Stored && len(cs.twins[d.MessageID]) > 0 {
			// The redelivery of the message on the new connection waits
			// for this verdict (releaseLocked): it is acked in its place.
			err = nil
		}
		cs.releaseLocked(d.MessageID, res)
	}
	if s != nil {
		c.flushSettlementsLocked(s)
	}
	c.writeClaimedUnlock(s, claimed)
	if err != nil {
		return fmt.Errorf("settle %q: %w (%w)", d.MessageID, ErrDeliveryStale, err)
	}
	return nil
}

// fieldCache makes a Delivery with few allocations: body and message id
// share one buffer, and the queue, exchange, routing key and consumer tag
// strings are reused from the previous delivery when their bytes are the
// same (they almost always are). The Delivery struct itself is allocated on
// its own: a handler may keep it, and it must then keep nothing else alive.
// Guarded by Conn.mu.
type fieldCache struct {
	queue, exchange, key, tag string
}

// intern returns *last if it spells b, else makes and remembers a string.
func intern(b []byte, last *string) string {
	if string(b) != *last { // compared without a conversion
		*last = string(b)
	}
	return *last
}

// WholeBody returns the whole body, Prefix ‖ Body: Body itself when Prefix
// is nil, else a new joined copy.
func (d *Delivery) WholeBody() []byte {
	if d.Prefix == nil {
		return d.Body
	}
	return append(append(make([]byte, 0, len(d.Prefix)+len(d.Body)), d.Prefix...), d.Body...)
}

// delivery makes a Delivery of d, copying everything out of the frame. The
// body is prefix ‖ d.Body (prefix is nil but for a DeliverRef), in the one
// buffer a delivery has anyway, unless split: then the delivery keeps the
// shared, immutable prefix as it is and copies only the rest.
func (fc *fieldCache) delivery(d *wire.Deliver, prefix []byte, split bool) *Delivery {
	var shared []byte
	if split {
		shared, prefix = prefix, nil
	}
	nb := len(prefix) + len(d.Body)
	buf := make([]byte, nb+len(d.MessageID))
	copy(buf[copy(buf, prefix):], d.Body)
	copy(buf[nb:], d.MessageID)
	// The id's bytes sit after the body's capacity, so nothing can write
	// them again: appending to Body reallocates.
	dl := &Delivery{
		MessageID:     unsafe.String(unsafe.SliceData(buf[nb:]), len(d.MessageID)),
		Body:          buf[:nb:nb],
		Prefix:        shared,
		Queue:         intern(d.Queue, &fc.queue),
		Exchange:      intern(d.Exchange, &fc.exchange),
		RoutingKey:    intern(d.RoutingKey, &fc.key),
		ConsumerTag:   intern(d.ConsumerTag, &fc.tag),
		Redelivered:   d.Flags&wire.FlagRedelivered != 0,
		DeliveryCount: d.DeliveryCount,

		DeadLetterReason: d.Reason,
	}
	if len(d.MessageID) == 0 {
		dl.MessageID = ""
	}
	return dl
}

// Consumer receives the deliveries of one queue and runs the handler on
// them, one batch at a time, on its own goroutine. It resubscribes after
// every reconnect.
type Consumer struct {
	c      *Conn
	opts   ConsumerOptions
	tag    string
	seen   engine.SeenSet
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error

	duplicates atomic.Uint64
	handled    atomic.Uint64
	requeued   atomic.Uint64
	rejected   atomic.Uint64

	settleEvery int // opts.SettleBatch or its default

	// Owned by the goroutine of run: the batch slice the queue gets next
	// (single-message handlers only), and handleEach's verdicts.
	spare   []*Delivery
	results []verdict

	// Guarded by c.mu.
	queue    []*Delivery
	stopped  bool
	subEpoch uint64 // session on which the latest Consume was sent
	// active counts the ids in the handler right now; twins holds
	// deliveries of such ids that arrived on a newer session (the engine
	// parks twins within one session). They follow the handler's verdict:
	// acked if it stored the message, handled themselves otherwise. Without
	// this a reconnect during a slow handler would run the same id twice.
	active map[string]int
	twins  map[string][]*Delivery
}

// ConsumerStats are one consumer's counters.
type ConsumerStats struct {
	Handled    uint64 // deliveries given to the handler
	Duplicates uint64 // acked without the handler (Seen, or a twin of one being handled)
	Requeued   uint64 // handler returned a transient error
	Rejected   uint64 // handler returned a Permanent error
}

// Consume subscribes to a queue. Deliveries go to opts.Handler (or
// opts.BatchHandler) on a goroutine of the consumer; ctx bounds only the
// subscription request. Handlers get a context that ends when the consumer
// or the connection does.
func (c *Conn) Consume(ctx context.Context, opts ConsumerOptions) (*Consumer, error) {
	if err := checkName("queue", opts.Queue, false); err != nil {
		return nil, err
	}
	if err := checkName("consumer tag", opts.Tag, true); err != nil {
		return nil, err
	}
	if (opts.Handler == nil) == (opts.BatchHandler == nil) {
		return nil, fmt.Errorf("%w: consume %q: set exactly one of Handler and BatchHandler", ErrInvalid, opts.Queue)
	}
	if opts.Prefetch < 0 || opts.AckTimeout < 0 {
		return nil, fmt.Errorf("%w: consume %q: negative Prefetch or AckTimeout", ErrInvalid, opts.Queue)
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = defaultPrefetch
	}
	if opts.SettleBatch < 0 {
		return nil, fmt.Errorf("%w: consume %q: negative SettleBatch", ErrInvalid, opts.Queue)
	}
	cs := &Consumer{
		c: c, opts: opts,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		active: make(map[string]int), twins: make(map[string][]*Delivery),
		settleEvery: cmp.Or(opts.SettleBatch, defaultSettleBatch),
	}
	if opts.Seen != nil {
		cs.seen = engine.SeenFunc(opts.Seen)
	}
	cs.ctx, cs.cancel = context.WithCancel(context.Background())
	op := fmt.Sprintf("consume %q", opts.Queue)
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			cs.cancel()
			return nil, fmt.Errorf("%s: %w", op, ErrClosed)
		}
		s := c.sess
		if s == nil {
			up := c.upCh
			c.mu.Unlock()
			select {
			case <-up:
				continue
			case <-ctx.Done():
				cs.cancel()
				return nil, fmt.Errorf("%s: waiting for the connection to the broker: %w", op, ctx.Err())
			case <-c.closeCh:
				cs.cancel()
				return nil, fmt.Errorf("%s: %w", op, ErrClosed)
			}
		}
		if cs.tag == "" {
			cs.tag = opts.Tag
			if cs.tag == "" {
				c.nextCTag++
				cs.tag = fmt.Sprintf("%s-%d", c.opts.ClientName, c.nextCTag)
			}
			if _, dup := c.consumers[cs.tag]; dup {
				c.mu.Unlock()
				cs.cancel()
				return nil, fmt.Errorf("%w: %s: consumer tag %q is already used on this connection", ErrInvalid, op, cs.tag)
			}
		}
		c.consumers[cs.tag] = cs
		c.updatePrefetchLocked()
		r := &request{op: op, ch: make(chan reply, 1)}
		c.subscribeLocked(s, cs, r)
		c.mu.Unlock()
		var rep reply
		select {
		case rep = <-r.ch:
		case <-ctx.Done():
			c.mu.Lock()
			c.removeConsumerLocked(cs, nil)
			c.mu.Unlock()
			cs.cancel()
			return nil, fmt.Errorf("%s: waiting for the broker's answer: %w", op, ctx.Err())
		}
		switch {
		case rep.err == nil:
		case errors.Is(rep.err, ErrConnectionLost):
			// Still registered: the next session subscribes it again.
		default:
			c.mu.Lock()
			c.removeConsumerLocked(cs, nil)
			c.mu.Unlock()
			cs.cancel()
			return nil, rep.err
		}
		break
	}
	c.wg.Add(1)
	go cs.run()
	return cs, nil
}

// subscribeLocked queues a Consume for cs on s. Without r, the answer is
// handled here: a refusal after a reconnect ends the consumer.
func (c *Conn) subscribeLocked(s *session, cs *Consumer, r *request) {
	if r == nil {
		op := fmt.Sprintf("consume %q again after reconnect", cs.opts.Queue)
		r = &request{op: op, fn: func(rep reply) {
			if rep.err == nil || errors.Is(rep.err, ErrConnectionLost) || errors.Is(rep.err, ErrClosed) {
				return
			}
			c.log.Error("resubscribing failed; the consumer ends", "consumer", cs.tag, "err", rep.err)
			c.removeConsumerLocked(cs, nil)
			go cs.end(fmt.Errorf("%w: %w", ErrConsumerEnded, rep.err))
		}}
	}
	cs.subEpoch = s.epoch
	f := wire.Consume{
		Queue:        cs.opts.Queue,
		ConsumerTag:  cs.tag,
		Prefetch:     uint64(cs.opts.Prefetch),
		AckTimeoutMs: uint64(cs.opts.AckTimeout.Milliseconds()),
	}
	c.sendRequestLocked(s, r, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendConsume(dst, &f)
	})
}

// removeConsumerLocked unregisters cs and, if the live session has it
// subscribed, cancels it there so the broker stops sending. With answer,
// the broker's answer to that Cancel goes to answer (buffered, one reply)
// and removeConsumerLocked reports whether a Cancel was sent; without, a
// refusal is logged.
func (c *Conn) removeConsumerLocked(cs *Consumer, answer chan reply) bool {
	if c.consumers[cs.tag] != cs {
		return false
	}
	delete(c.consumers, cs.tag)
	c.updatePrefetchLocked()
	cs.stopped = true
	sent := false
	if s := c.sess; s != nil && cs.subEpoch == s.epoch {
		r := &request{op: fmt.Sprintf("cancel consumer %q", cs.tag), ch: answer}
		if answer == nil {
			r.fn = func(rep reply) {
				if cancelRefused(rep.err) {
					c.log.Warn("cancelling a consumer failed", "consumer", cs.tag, "err", rep.err)
				}
			}
		}
		c.sendRequestLocked(s, r, func(dst []byte, id uint64) []byte {
			return wire.AppendCancel(dst, &wire.Cancel{ReqID: id, ConsumerTag: cs.tag})
		})
		sent = true
	}
	c.requeueQueuedLocked(cs)
	return sent
}

// cancelRefused reports whether err, the answer to a Cancel, means the
// broker may still have the consumer. A lost or closed connection does not:
// the broker drops a dead connection's consumers. Nor does "no such
// consumer": the broker ended it already (its queue was deleted, say).
func cancelRefused(err error) bool {
	return err != nil && !errors.Is(err, ErrConnectionLost) && !errors.Is(err, ErrClosed) &&
		!hasCode(err, CodeConsumerNotFound)
}

func (c *Conn) updatePrefetchLocked() {
	n := 0
	for _, cs := range c.consumers {
		n += cs.opts.Prefetch
	}
	c.cons.SetPrefetch(n)
}

// requeueQueuedLocked gives back the deliveries cs had not handled yet.
func (c *Conn) requeueQueuedLocked(cs *Consumer) {
	for _, d := range cs.queue {
		_ = c.cons.Settle(d.ref, engine.Transient)
	}
	cs.queue = nil
	for id, ds := range cs.twins {
		for _, d := range ds {
			_ = c.cons.Settle(d.ref, engine.Transient)
		}
		delete(cs.twins, id)
	}
	if s := c.sess; s != nil {
		c.flushSettlementsLocked(s)
	}
}

func (cs *Consumer) enqueueLocked(d *Delivery) {
	if cs.active[d.MessageID] > 0 {
		cs.twins[d.MessageID] = append(cs.twins[d.MessageID], d)
		return
	}
	cs.queue = append(cs.queue, d)
	select {
	case cs.wake <- struct{}{}:
	default:
	}
}

// dropQueuedLocked forgets queued deliveries of a session that ended: the
// broker requeues them. Handlers running now keep their place in active, so
// a redelivery of their id on the next session waits for their verdict.
func (cs *Consumer) dropQueuedLocked() {
	cs.queue = nil
	clear(cs.twins)
}

// Tag is the consumer's tag on its connection.
func (cs *Consumer) Tag() string { return cs.tag }

// Done is closed when the consumer has ended and its goroutine returned.
func (cs *Consumer) Done() <-chan struct{} { return cs.done }

// Err says why the consumer ended (nil while it runs).
func (cs *Consumer) Err() error {
	select {
	case <-cs.done:
		return cs.err
	default:
		return nil
	}
}

// Stats returns the consumer's counters.
func (cs *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Handled:    cs.handled.Load(),
		Duplicates: cs.duplicates.Load(),
		Requeued:   cs.requeued.Load(),
		Rejected:   cs.rejected.Load(),
	}
}

// Cancel ends the consumer: deliveries not yet handled are requeued, and
// Cancel waits (until ctx ends) for the handler running now to return and
// for the broker to confirm the cancellation. A handler must not call
// Cancel on its own consumer (it would wait for itself until ctx ends).
//
// When Cancel returns nil the broker has dropped the consumer: it sends it
// nothing more and its statistics no longer count it. A connection that is
// down, or breaks while Cancel waits, counts as cancelled, since the broker
// drops a dead connection's consumers (and this one is not subscribed
// again). So does the broker's "no such consumer" (it ended the consumer
// itself). Any other refusal is returned as a *BrokerError naming the
// consumer's tag.
func (cs *Consumer) Cancel(ctx context.Context) error {
	c := cs.c
	answer := make(chan reply, 1)
	c.mu.Lock()
	sent := c.removeConsumerLocked(cs, answer)
	c.mu.Unlock()
	cs.end(fmt.Errorf("%w: cancelled", ErrConsumerEnded))
	select {
	case <-cs.done:
	case <-ctx.Done():
		return fmt.Errorf("cancel consumer %q: waiting for its handler to return: %w", cs.tag, ctx.Err())
	}
	if !sent {
		return nil
	}
	select {
	case rep := <-answer:
		if cancelRefused(rep.err) {
			return rep.err // names the consumer: `broker refused cancel consumer "tag": ...`
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cancel consumer %q: waiting for the broker's answer: %w", cs.tag, ctx.Err())
	}
}

// end stops the consumer's goroutine; the first reason is kept.
func (cs *Consumer) end(err error) {
	cs.once.Do(func() {
		cs.err = err
		c := cs.c
		c.mu.Lock()
		cs.stopped = true
		c.requeueQueuedLocked(cs)
		c.mu.Unlock()
		cs.cancel()
	})
}

// run handles batches until the consumer ends.
func (cs *Consumer) run() {
	c := cs.c
	defer c.wg.Done()
	defer close(cs.done)
	for {
		select {
		case <-cs.wake:
		case <-cs.ctx.Done():
			return
		}
		for cs.ctx.Err() == nil {
			c.mu.Lock()
			// Two slices take turns: the queue fills one while the
			// handler works through the other.
			batch := cs.queue
			cs.queue, cs.spare = cs.spare[:0], nil
			for _, d := range batch {
				cs.active[d.MessageID]++
			}
			c.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if cs.opts.BatchHandler != nil {
				cs.handleBatch(batch) // the handler may keep the slice: not reused
			} else {
				cs.handleEach(batch)
				clear(batch) // pins no delivery
				cs.spare = batch[:0]
			}
		}
	}
}

// defaultSettleBatch bounds how many verdicts of single-message handlers
// wait before their acks are flushed (ConsumerOptions.SettleBatch).
const defaultSettleBatch = 32

// resultLater marks a delivery whose handler returned ErrSettleLater: it is
// not an engine result and never reaches the engine.
const resultLater engine.Result = 0

// verdict is a handler's verdict on one delivery: the engine result and,
// for a rejection, its reason.
type verdict struct {
	res    engine.Result
	reason wire.RejectReason
}

func (cs *Consumer) handleEach(batch []*Delivery) {
	settleEvery := cs.settleEvery
	results := cs.results[:0]
	defer func() { cs.results = results[:0] }()
	start := 0
	for i, d := range batch {
		if cs.ctx.Err() != nil {
			cs.settle(batch[start:i], results)
			cs.settle(batch[i:], nil)
			return
		}
		cs.handled.Add(1)
		results = append(results, cs.verdict(cs.opts.Handler(cs.ctx, d)))
		if len(results) == settleEvery || i == len(batch)-1 {
			cs.settle(batch[start:i+1], results)
			results, start = results[:0], i+1
		}
	}
}

func (cs *Consumer) handleBatch(batch []*Delivery) {
	cs.handled.Add(uint64(len(batch)))
	errs := cs.opts.BatchHandler(cs.ctx, batch)
	results := make([]verdict, len(batch))
	for i := range batch {
		if i < len(errs) {
			results[i] = cs.verdict(errs[i])
		} else {
			results[i] = cs.verdict(errors.New("no verdict from the batch handler"))
		}
	}
	cs.settle(batch, results)
}

func (cs *Consumer) verdict(err error) verdict {
	res := cs.result(err)
	if res != engine.Permanent {
		return verdict{res: res}
	}
	return verdict{res: res, reason: RejectReasonOf(err)}
}

func (cs *Consumer) result(err error) engine.Result {
	switch {
	case err == nil:
		return engine.Stored
	case errors.Is(err, ErrSettleLater):
		return resultLater
	case IsPermanent(err):
		// Debug: the handler's owner reports its own rejections (the
		// receiver logs one line each); the broker dead-letters the
		// message if its queue has a dead-letter queue, else discards it.
		cs.c.log.Debug("handler refused a message for good; rejecting it", "consumer", cs.tag, "err", err)
		return engine.Permanent
	default:
		cs.c.log.Debug("handler failed; requeueing the message", "consumer", cs.tag, "err", err)
		return engine.Transient
	}
}

// settle records verdicts (nil results: requeue all) and flushes the
// resulting frames. Deliveries of a session that ended are skipped: the
// broker requeued them already.
func (cs *Consumer) settle(ds []*Delivery, results []verdict) {
	if len(ds) == 0 {
		return
	}
	c := cs.c
	c.mu.Lock()
	s := c.sess
	claimed := c.claimLocked(s) // acks are written from here when the socket is idle
	for i, d := range ds {
		res, reason := engine.Transient, wire.ReasonNone
		if results != nil {
			res, reason = results[i].res, results[i].reason
		}
		if d.settled {
			continue // settled by Ack, Nack or Reject in the handler
		}
		if res == resultLater {
			d.deferred = true // Ack, Nack or Reject settles and releases it
			continue
		}
		d.settled = true
		_ = c.cons.SettleReason(d.ref, res, reason)
		if results != nil {
			cs.count(res)
		}
		cs.releaseLocked(d.MessageID, res)
	}
	if s != nil {
		c.flushSettlementsLocked(s)
	}
	c.writeClaimedUnlock(s, claimed)
}

// count adds a verdict to the consumer's counters.
func (cs *Consumer) count(res engine.Result) {
	switch res {
	case engine.Transient:
		cs.requeued.Add(1)
	case engine.Permanent:
		cs.rejected.Add(1)
	}
}

// releaseLocked ends the handling of one delivery of id and decides its
// cross-session twins: acked as duplicates if the message is now stored,
// queued for the handler otherwise.
func (cs *Consumer) releaseLocked(id string, res engine.Result) {
	if n := cs.active[id] - 1; n > 0 {
		cs.active[id] = n
		return
	}
	delete(cs.active, id)
	if len(cs.twins) == 0 {
		return // the usual case: no lookup by id
	}
	twins := cs.twins[id]
	if len(twins) == 0 {
		return
	}
	delete(cs.twins, id)
	c := cs.c
	for _, d := range twins {
		if res == engine.Stored {
			if c.cons.Settle(d.ref, engine.Stored) == nil {
				cs.duplicates.Add(1)
			}
			continue
		}
		cs.enqueueLocked(d)
	}
}
