package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// reply is the broker's answer to one request.
type reply struct {
	err     error
	count   uint64
	tag     string
	json    []byte
	fetched *Delivery // FetchOK: nil if the engine settled it itself
	empty   bool      // FetchEmpty
}

// request is one request awaiting its answer: ch for a caller that waits,
// fn for the connection's own requests (replays), called under the lock.
type request struct {
	op    string
	epoch uint64
	ch    chan reply
	fn    func(reply)
}

func (r *request) finish(rep reply) {
	if be, ok := rep.err.(*BrokerError); ok && be.Op == "" {
		be.Op = r.op
	}
	if r.ch != nil {
		r.ch <- rep
	}
	if r.fn != nil {
		r.fn(rep)
	}
}

func (c *Conn) answerLocked(id uint64, rep reply) {
	r, ok := c.reqs[id]
	if !ok {
		c.log.Debug("answer to a request nobody waits for (cancelled or of an older session)", "req", id)
		return
	}
	delete(c.reqs, id)
	r.finish(rep)
}

// roundTrip sends one request and waits for its answer. While the
// connection is down it waits for the next session (or ctx). An idempotent
// request (declare, bind, stats) whose connection broke before the answer
// is sent again on the next session; the others return ErrConnectionLost,
// since their outcome is unknown.
func (c *Conn) roundTrip(ctx context.Context, op string, idempotent bool, enc func(dst []byte, id uint64) []byte) (reply, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return reply{}, fmt.Errorf("%s: %w", op, ErrClosed)
		}
		s := c.sess
		if s == nil {
			up := c.upCh
			c.mu.Unlock()
			select {
			case <-up:
				continue
			case <-ctx.Done():
				return reply{}, fmt.Errorf("%s: waiting for the connection to the broker: %w", op, ctx.Err())
			case <-c.closeCh:
				return reply{}, fmt.Errorf("%s: %w", op, ErrClosed)
			}
		}
		id := c.sendRequestLocked(s, &request{op: op, ch: make(chan reply, 1)}, enc)
		r := c.reqs[id]
		c.mu.Unlock()
		select {
		case rep := <-r.ch:
			if idempotent && errors.Is(rep.err, ErrConnectionLost) {
				continue
			}
			return rep, rep.err
		case <-ctx.Done():
			c.mu.Lock()
			delete(c.reqs, id)
			c.mu.Unlock()
			return reply{}, fmt.Errorf("%s: waiting for the broker's answer: %w", op, ctx.Err())
		}
	}
}

// sendRequestLocked registers r and queues its frame on s.
func (c *Conn) sendRequestLocked(s *session, r *request, enc func(dst []byte, id uint64) []byte) uint64 {
	c.nextReq++
	id := c.nextReq
	r.epoch = s.epoch
	c.reqs[id] = r
	c.eng.Queue(func(dst []byte) []byte { return enc(dst, id) })
	s.wakeLocked()
	return id
}

// topology is what this connection declared, replayed on every new session
// so that a broker restarted without durable state gets it back.
type topology struct {
	exchanges []wire.DeclareExchange
	queues    []wire.DeclareQueue
	bindings  []wire.Bind
}

func (t *topology) addExchange(d wire.DeclareExchange) {
	d.ReqID = 0
	if !slices.ContainsFunc(t.exchanges, func(e wire.DeclareExchange) bool { return e.Name == d.Name }) {
		t.exchanges = append(t.exchanges, d)
	}
}

func (t *topology) addQueue(d wire.DeclareQueue) {
	d.ReqID = 0
	if !slices.ContainsFunc(t.queues, func(q wire.DeclareQueue) bool { return q.Name == d.Name }) {
		t.queues = append(t.queues, d)
	}
}

func (t *topology) addBinding(b wire.Bind) {
	b.ReqID = 0
	if !slices.Contains(t.bindings, b) {
		t.bindings = append(t.bindings, b)
	}
}

func (t *topology) removeBinding(b wire.Bind) {
	b.ReqID = 0
	t.bindings = slices.DeleteFunc(t.bindings, func(x wire.Bind) bool { return x == b })
}

func (t *topology) removeExchange(name string) {
	t.exchanges = slices.DeleteFunc(t.exchanges, func(e wire.DeclareExchange) bool { return e.Name == name })
	t.bindings = slices.DeleteFunc(t.bindings, func(b wire.Bind) bool { return b.Exchange == name })
}

func (t *topology) removeQueue(name string) {
	t.queues = slices.DeleteFunc(t.queues, func(q wire.DeclareQueue) bool { return q.Name == name })
	t.bindings = slices.DeleteFunc(t.bindings, func(b wire.Bind) bool { return b.Queue == name })
}

// replayTopologyLocked queues the declarations again on a new session.
// Queues go first, so a dead-letter queue exists before the queue naming it
// (declaration order is kept within each kind).
func (c *Conn) replayTopologyLocked(s *session) {
	logErr := func(op string) func(reply) {
		return func(rep reply) {
			if rep.err != nil && !c.closed {
				c.log.Error("declaring again after reconnect failed", "op", op, "err", rep.err)
			}
		}
	}
	for _, q := range c.topo.queues {
		op := fmt.Sprintf("declare queue %q", q.Name)
		c.sendRequestLocked(s, &request{op: op, fn: logErr(op)}, func(dst []byte, id uint64) []byte {
			q.ReqID = id
			return wire.AppendDeclareQueue(dst, &q)
		})
	}
	for _, e := range c.topo.exchanges {
		op := fmt.Sprintf("declare exchange %q", e.Name)
		c.sendRequestLocked(s, &request{op: op, fn: logErr(op)}, func(dst []byte, id uint64) []byte {
			e.ReqID = id
			return wire.AppendDeclareExchange(dst, &e)
		})
	}
	for _, b := range c.topo.bindings {
		op := fmt.Sprintf("bind queue %q to exchange %q with key %q", b.Queue, b.Exchange, b.Key)
		c.sendRequestLocked(s, &request{op: op, fn: logErr(op)}, func(dst []byte, id uint64) []byte {
			b.ReqID = id
			return wire.AppendBind(dst, &b)
		})
	}
}

func exchangeTypeCode(t ExchangeType) (uint8, error) {
	switch t {
	case Direct:
		return wire.ExchangeDirect, nil
	case Fanout:
		return wire.ExchangeFanout, nil
	case Topic:
		return wire.ExchangeTopic, nil
	}
	return 0, fmt.Errorf("%w: exchange type %q: use direct, fanout or topic", ErrInvalid, t)
}

func checkName(what, name string, allowEmpty bool) error {
	if name == "" && !allowEmpty {
		return fmt.Errorf("%w: empty %s name", ErrInvalid, what)
	}
	if len(name) > wire.MaxNameLen {
		return fmt.Errorf("%w: %s name of %d bytes; the limit is %d", ErrInvalid, what, len(name), wire.MaxNameLen)
	}
	return nil
}

func nonNegative(what string, v int64) error {
	if v < 0 {
		return fmt.Errorf("%w: negative %s %d", ErrInvalid, what, v)
	}
	return nil
}

// DeclareExchange declares an exchange (idempotent for the same type). It is
// declared again automatically after a reconnect.
func (c *Conn) DeclareExchange(ctx context.Context, name string, typ ExchangeType) error {
	if err := checkName("exchange", name, false); err != nil {
		return err
	}
	code, err := exchangeTypeCode(typ)
	if err != nil {
		return err
	}
	f := wire.DeclareExchange{Name: name, Type: code}
	if _, err := c.roundTrip(ctx, fmt.Sprintf("declare exchange %q", name), true, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendDeclareExchange(dst, &f)
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.topo.addExchange(f)
	c.mu.Unlock()
	return nil
}

// DeclareQueue declares a queue (idempotent for the same options). It is
// declared again automatically after a reconnect.
func (c *Conn) DeclareQueue(ctx context.Context, name string, o QueueOptions) error {
	if err := checkName("queue", name, false); err != nil {
		return err
	}
	if err := checkName("dead-letter queue", o.DeadLetterQueue, true); err != nil {
		return err
	}
	for _, v := range []struct {
		what string
		v    int64
	}{{"MaxLength", int64(o.MaxLength)}, {"MaxBytes", o.MaxBytes}, {"AckTimeout", int64(o.AckTimeout)}, {"DeliveryLimit", int64(o.DeliveryLimit)}} {
		if err := nonNegative(v.what, v.v); err != nil {
			return err
		}
	}
	f := wire.DeclareQueue{
		Name:            name,
		MaxLength:       uint64(o.MaxLength),
		MaxBytes:        uint64(o.MaxBytes),
		AckTimeoutMs:    uint64(o.AckTimeout.Milliseconds()),
		DeliveryLimit:   uint64(o.DeliveryLimit),
		DeadLetterQueue: o.DeadLetterQueue,
		Durable:         o.Durable,
		Discard:         o.Discard,
	}
	if _, err := c.roundTrip(ctx, fmt.Sprintf("declare queue %q", name), true, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendDeclareQueue(dst, &f)
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.topo.addQueue(f)
	c.mu.Unlock()
	return nil
}

// Bind routes messages of exchange with a matching key to queue. It is
// bound again automatically after a reconnect.
func (c *Conn) Bind(ctx context.Context, exchange, queue, key string) error {
	f, err := bindFrame(exchange, queue, key)
	if err != nil {
		return err
	}
	if _, err := c.roundTrip(ctx, fmt.Sprintf("bind queue %q to exchange %q with key %q", queue, exchange, key), true, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendBind(dst, &f)
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.topo.addBinding(f)
	c.mu.Unlock()
	return nil
}

// Unbind removes a binding.
func (c *Conn) Unbind(ctx context.Context, exchange, queue, key string) error {
	f, err := bindFrame(exchange, queue, key)
	if err != nil {
		return err
	}
	// Forget it first: even if the answer is lost, it must not come back
	// with the next reconnect.
	c.mu.Lock()
	c.topo.removeBinding(f)
	c.mu.Unlock()
	u := wire.Unbind(f)
	_, err = c.roundTrip(ctx, fmt.Sprintf("unbind queue %q from exchange %q with key %q", queue, exchange, key), false, func(dst []byte, id uint64) []byte {
		u.ReqID = id
		return wire.AppendUnbind(dst, &u)
	})
	return err
}

func bindFrame(exchange, queue, key string) (wire.Bind, error) {
	if err := checkName("exchange", exchange, false); err != nil {
		return wire.Bind{}, err
	}
	if err := checkName("queue", queue, false); err != nil {
		return wire.Bind{}, err
	}
	if err := checkName("binding key", key, true); err != nil {
		return wire.Bind{}, err
	}
	return wire.Bind{Exchange: exchange, Queue: queue, Key: key}, nil
}

// DeleteQueue deletes a queue and returns how many messages it discarded.
func (c *Conn) DeleteQueue(ctx context.Context, name string) (int, error) {
	if err := checkName("queue", name, false); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.topo.removeQueue(name)
	c.mu.Unlock()
	f := wire.DeleteQueue{Name: name}
	rep, err := c.roundTrip(ctx, fmt.Sprintf("delete queue %q", name), false, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendDeleteQueue(dst, &f)
	})
	return int(rep.count), err
}

// DeleteExchange deletes an exchange and its bindings.
func (c *Conn) DeleteExchange(ctx context.Context, name string) error {
	if err := checkName("exchange", name, false); err != nil {
		return err
	}
	c.mu.Lock()
	c.topo.removeExchange(name)
	c.mu.Unlock()
	f := wire.DeleteExchange{Name: name}
	_, err := c.roundTrip(ctx, fmt.Sprintf("delete exchange %q", name), false, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendDeleteExchange(dst, &f)
	})
	return err
}

// Stats is BrokerStats, under its older name.
//
// Deprecated: use BrokerStats; the library's own counters are ClientStats,
// Publisher.Stats and Consumer.Stats.
func (c *Conn) Stats(ctx context.Context) (json.RawMessage, error) { return c.BrokerStats(ctx) }

// BrokerStats asks the broker for its statistics document (broker.Stats as
// JSON; decode it into that type or into a map): queues, exchanges,
// connections as the broker counts them. The library's own counters are
// ClientStats, Publisher.Stats and Consumer.Stats.
func (c *Conn) BrokerStats(ctx context.Context) (json.RawMessage, error) {
	var f wire.Stats
	rep, err := c.roundTrip(ctx, "stats", true, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendStats(dst, &f)
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(rep.json), nil
}

// StatsList names the list a stats cursor continues.
type StatsList uint8

// The lists of a stats document.
const (
	StatsQueues    = StatsList(wire.StatsQueues)
	StatsExchanges = StatsList(wire.StatsExchanges)
)

// StatsCursor asks for one page of the broker's statistics (docs/protocol.md,
// "Stats replies"). The zero value asks for the first page of both lists.
// Otherwise List names the list to continue, from after the name After
// (a document's "next_queue" or "next_exchange") or, when Resume is not 0,
// from a resume token ("next_queue_token", "next_exchange_token"), which
// is valid only on the connection that received it.
type StatsCursor struct {
	List   StatsList
	After  string
	Resume uint64
}

// ErrStatsCursorUnsupported: the broker did not grant stats cursors
// (wire.FeatureStatsCursor), so only the first stats page can be read.
var ErrStatsCursorUnsupported = errors.New("clients: the broker does not support stats cursors: only the first stats page can be read")

// BrokerStatsPage asks for one page of the broker's statistics: BrokerStats
// with a cursor. The document's "truncated", "next_queue",
// "next_queue_token", "next_exchange" and "next_exchange_token" say where
// the next page starts; EachBrokerStatsPage follows them.
func (c *Conn) BrokerStatsPage(ctx context.Context, cur StatsCursor) (json.RawMessage, error) {
	f := wire.Stats{List: uint8(cur.List), After: cur.After, Resume: cur.Resume}
	if f.List != 0 {
		if cur.List != StatsQueues && cur.List != StatsExchanges {
			return nil, fmt.Errorf("stats page: list %d is neither StatsQueues nor StatsExchanges: %w", cur.List, ErrInvalid)
		}
		if cur.After == "" && cur.Resume == 0 {
			return nil, fmt.Errorf("stats page: a cursor needs After or Resume (the zero StatsCursor asks for the first page): %w", ErrInvalid)
		}
		if len(cur.After) > wire.MaxNameLen {
			return nil, fmt.Errorf("stats page: cursor name is %d bytes, the limit is %d: %w", len(cur.After), wire.MaxNameLen, ErrInvalid)
		}
		// The grant of the connection live now; a reconnect to a broker
		// without the feature between this check and the send would make
		// that broker close the connection (code 104).
		c.mu.Lock()
		granted := c.server.Features&wire.FeatureStatsCursor != 0
		c.mu.Unlock()
		if !granted {
			return nil, fmt.Errorf("stats page: %w", ErrStatsCursorUnsupported)
		}
	} else if cur.After != "" || cur.Resume != 0 {
		return nil, fmt.Errorf("stats page: a cursor position without a List: %w", ErrInvalid)
	}
	rep, err := c.roundTrip(ctx, "stats", true, func(dst []byte, id uint64) []byte {
		f.ReqID = id
		return wire.AppendStats(dst, &f)
	})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(rep.json), nil
}

// statsNext is the cursor part of a stats document.
type statsNext struct {
	Truncated         bool   `json:"truncated"`
	NextQueue         string `json:"next_queue"`
	NextQueueToken    uint64 `json:"next_queue_token"`
	NextExchange      string `json:"next_exchange"`
	NextExchangeToken uint64 `json:"next_exchange_token"`
}

func (n statsNext) cursor(list StatsList) (StatsCursor, bool) {
	name, token := n.NextQueue, n.NextQueueToken
	if list == StatsExchanges {
		name, token = n.NextExchange, n.NextExchangeToken
	}
	switch {
	case token != 0:
		return StatsCursor{List: list, Resume: token}, true
	case name != "":
		return StatsCursor{List: list, After: name}, true
	}
	return StatsCursor{}, false
}

// EachBrokerStatsPage reads the broker's statistics page by page and calls
// fn with each document, until every list is complete or fn returns an
// error (which it returns). The first page has both lists; the pages after
// it continue the queues, then the exchanges, and list nothing of the
// other one. A page truncated on a broker without stats cursors ends with
// ErrStatsCursorUnsupported after fn saw it. A resume token does not
// survive a reconnect: if the connection is replaced between two pages,
// the broker refuses the token (code 101) and the walk ends with that
// error; call again to start over.
func (c *Conn) EachBrokerStatsPage(ctx context.Context, fn func(json.RawMessage) error) error {
	doc, err := c.BrokerStatsPage(ctx, StatsCursor{})
	if err != nil {
		return err
	}
	var first statsNext
	if err := json.Unmarshal(doc, &first); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	if err := fn(doc); err != nil {
		return err
	}
	for _, list := range []StatsList{StatsQueues, StatsExchanges} {
		next, prev := first, StatsCursor{}
		for {
			cur, more := next.cursor(list)
			if !more {
				break
			}
			if cur == prev {
				return fmt.Errorf("stats: the broker answered cursor %+v with itself: paging would not end", cur)
			}
			prev = cur
			if doc, err = c.BrokerStatsPage(ctx, cur); err != nil {
				return err
			}
			next = statsNext{}
			if err := json.Unmarshal(doc, &next); err != nil {
				return fmt.Errorf("stats: %w", err)
			}
			if err := fn(doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// Fetch takes one message from queue without subscribing (a pull, AMQP's
// basic.get): ok is false when the queue is empty. The delivery is the
// caller's to settle with Delivery.Ack, Nack or Reject; until then the
// broker holds it as unacked for this connection (its ack timeout applies),
// and if the connection breaks first the broker requeues it. Fetching needs
// read permission on the queue. A message whose id a handler of this
// connection is processing right now is held back like a consumer's
// redelivery; Fetch then asks for the next one.
func (c *Conn) Fetch(ctx context.Context, queue string) (d *Delivery, ok bool, err error) {
	if err := checkName("queue", queue, false); err != nil {
		return nil, false, err
	}
	op := fmt.Sprintf("fetch from %q", queue)
	for {
		// Idempotent: a fetch whose answer was lost with its connection
		// left an unacked delivery there, which the broker requeued.
		rep, err := c.roundTrip(ctx, op, true, func(dst []byte, id uint64) []byte {
			return wire.AppendFetch(dst, &wire.Fetch{ReqID: id, Queue: queue})
		})
		switch {
		case err != nil:
			return nil, false, err
		case rep.empty:
			return nil, false, nil
		case rep.fetched != nil:
			return rep.fetched, true, nil
		}
	}
}
