package driver

import (
	"fmt"
	"iter"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
)

// Host is what the loop asks of its driver. C is the driver's own handle of
// a connection (the server's *conn, the simulator's *brokerConn), given to
// Open and passed back here.
type Host[C any] interface {
	// Effect observes one effect of the core just before the loop hands
	// it to its connection's session (metrics, traces). ok is false when
	// no connection e.Conn is registered (it closed, and the loop forgot
	// it, before the core emitted this): the effect is then dropped. A
	// connection that is closing but not yet forgotten is still
	// registered: its closed session receives the effect and ignores it.
	// EffectPersist effects go to Log.Append instead. Effect must not call
	// the loop or the core.
	Effect(e *broker.Effect, c C, ok bool)
	// Ready says that c's session was touched since the last Ready: it may
	// have output to write, a new deadline or be closed. It is called once
	// per touched connection, in the order they were first touched, after
	// the core's outbox has been drained, and never for a connection that
	// was closed (Conn.Close). Ready may take further steps (write the
	// output and call Conn.Wrote, call Conn.Close, call the core): the
	// running Settle routes what they produce before it returns.
	Ready(c C, now time.Time)
}

// Log is the durable log as the loop sees it.
type Log interface {
	// Append writes the records of the EffectPersist effects of one drain
	// of the core's outbox, in order (each effect's Records; its Seq is the
	// effect's token). The slice and the effects are valid only during the
	// call. An error fails the log: the loop tells the core
	// (StorageFailed), which refuses durable work from then on, and
	// appends nothing more.
	Append(effects []*broker.Effect) error
}

// Options configure a Loop.
type Options struct {
	// Log receives the records the core asks to persist; nil drops them
	// (a broker without durable storage, whose core refuses durable work).
	Log Log
	// ReleaseOnWrite releases held confirms as soon as their records are
	// appended, before any fsync: the server's "--fsync interval" trade-off
	// (docs/storage.md). Without it the host calls Synced after each group
	// commit.
	ReleaseOnWrite bool
}

// Loop routes the core's effects between the core, the sessions, the
// durable log and the host. See the package documentation.
type Loop[C any] struct {
	core *broker.Core
	host Host[C]
	opts Options

	conns map[broker.ConnID]*Conn[C]
	order []*Conn[C] // in Open order; closed ones are skipped and removed lazily
	stale int        // closed connections still in order

	touched []*Conn[C] // touched since their last Ready, in order
	spare   []*Conn[C] // the other touched buffer, reused
	closing []*Conn[C] // closed, to forget once the outbox is empty
	persist []*broker.Effect

	appended  uint64 // token of the last EffectPersist appended
	logFailed bool
	settling  bool
}

// New returns a loop around core. host receives effects and readiness.
func New[C any](core *broker.Core, host Host[C], opts Options) *Loop[C] {
	return &Loop[C]{core: core, host: host, opts: opts, conns: make(map[broker.ConnID]*Conn[C])}
}

// Conn is one connection registered with a loop: its session and the
// host's handle. Its methods are the steps a transport takes.
type Conn[C any] struct {
	loop    *Loop[C]
	id      broker.ConnID
	sess    protocol.Session
	host    C
	touched bool
	closed  bool
}

// Open registers connection id with its session (new, or made from a core
// connection the host opened) and the host's handle, and marks it touched
// (its first Ready comes with the next Settle). Opening an id that is still
// registered is a bug of the host and panics.
func (l *Loop[C]) Open(id broker.ConnID, sess protocol.Session, c C) *Conn[C] {
	if _, dup := l.conns[id]; dup {
		panic(fmt.Sprintf("driver: connection %d opened while still registered", id))
	}
	cn := &Conn[C]{loop: l, id: id, sess: sess, host: c}
	l.conns[id] = cn
	l.order = append(l.order, cn)
	l.touch(cn)
	return cn
}

// Lookup returns the registered connection id (closing ones included until
// they are forgotten).
func (l *Loop[C]) Lookup(id broker.ConnID) (*Conn[C], bool) {
	cn, ok := l.conns[id]
	return cn, ok
}

// Conns yields the connections that are not closed, in the order they were
// opened (a fixed order: the simulator's runs replay).
func (l *Loop[C]) Conns() iter.Seq[*Conn[C]] {
	return func(yield func(*Conn[C]) bool) {
		for _, cn := range l.order {
			if !cn.closed && !yield(cn) {
				return
			}
		}
	}
}

// Len is the number of connections that are not closed.
func (l *Loop[C]) Len() int { return len(l.order) - l.stale }

func (l *Loop[C]) touch(cn *Conn[C]) {
	if !cn.touched {
		cn.touched = true
		l.touched = append(l.touched, cn)
	}
}

// ID is the connection's id in the core.
func (cn *Conn[C]) ID() broker.ConnID { return cn.id }

// Session is the connection's session. A host may read it (Output,
// Closed, NextDeadline, Protocol) at any time under its serialisation; a
// call that changes it should go through the Conn's methods, or be followed
// by Touch.
func (cn *Conn[C]) Session() protocol.Session { return cn.sess }

// Host is the handle the host gave Open.
func (cn *Conn[C]) Host() C { return cn.host }

// Closed reports whether Close was called.
func (cn *Conn[C]) Closed() bool { return cn.closed }

// Touch marks the connection for a Ready after the host changed its
// session by itself. Ignored once closed.
func (cn *Conn[C]) Touch() {
	if !cn.closed {
		cn.loop.touch(cn)
	}
}

// Feed hands bytes the transport received to the session and returns how
// many it consumed (the host keeps in[n:] and feeds it again with more); a
// non-nil error was fatal for the connection (the session is Closed and its
// Output holds the reply). After Close the bytes are dropped.
func (cn *Conn[C]) Feed(in []byte, now time.Time) (int, error) {
	if cn.closed {
		return len(in), nil
	}
	cn.loop.touch(cn)
	return cn.sess.Feed(in, now)
}

// EndOfInput says the peer will send nothing more; rest is what Feed left.
func (cn *Conn[C]) EndOfInput(rest []byte, now time.Time) {
	if cn.closed {
		return
	}
	cn.loop.touch(cn)
	cn.sess.EndOfInput(rest, now)
}

// Wrote reports that the first n bytes of the session's Output reached the
// transport at now.
func (cn *Conn[C]) Wrote(n int, now time.Time) {
	if cn.closed {
		return
	}
	cn.loop.touch(cn)
	cn.sess.Wrote(n, now)
}

// Tick runs the session's timers due at now (the server's per-connection
// timer; TickSessions ticks every due session).
func (cn *Conn[C]) Tick(now time.Time) {
	if cn.closed {
		return
	}
	cn.loop.touch(cn)
	cn.sess.Tick(now)
}

// Shutdown asks the session to end the connection politely (native: a
// Close frame with code and reason).
func (cn *Conn[C]) Shutdown(code broker.Code, reason string) {
	if cn.closed {
		return
	}
	cn.loop.touch(cn)
	cn.sess.Shutdown(code, reason)
}

// TakePasswordCheck returns the login the session parked for a password
// check, if any: the host verifies it off its hot path and answers with
// PasswordChecked.
func (cn *Conn[C]) TakePasswordCheck() (protocol.PasswordCheck, bool) {
	a, ok := cn.sess.(protocol.Authenticator)
	if !ok || cn.closed {
		return protocol.PasswordCheck{}, false
	}
	return a.TakePasswordCheck()
}

// PasswordChecked gives the session the verdict of the check it parked.
func (cn *Conn[C]) PasswordChecked(ok bool, now time.Time) {
	a, isAuth := cn.sess.(protocol.Authenticator)
	if !isAuth || cn.closed {
		return
	}
	cn.loop.touch(cn)
	a.PasswordChecked(ok, now)
}

// Close detaches the connection from the core once its transport is gone:
// its consumers end and its unacked deliveries requeue (a large
// connection's in bounded steps that TickCore continues). What the core
// emits for it while closing still reaches its (closed) session; the loop
// forgets it at the end of the next Settle. Idempotent.
func (cn *Conn[C]) Close(now time.Time) {
	if cn.closed {
		return
	}
	l := cn.loop
	cn.closed = true
	l.stale++
	l.closing = append(l.closing, cn)
	cn.sess.Close(now)
}

// TickCore runs the core's timers due at now: ack timeouts, dedup expiry,
// unparking, and the next step of a chunked teardown.
func (l *Loop[C]) TickCore(now time.Time) { l.core.Tick(now) }

// TickSessions ticks every open session whose deadline is due at now, in
// the order the connections were opened.
func (l *Loop[C]) TickSessions(now time.Time) {
	for _, cn := range l.order {
		if cn.closed {
			continue
		}
		if t, ok := cn.sess.NextDeadline(); ok && !t.After(now) {
			l.touch(cn)
			cn.sess.Tick(now)
		}
	}
}

// NextDeadline is the earliest instant the core or an open session needs a
// Tick; false when none does. While a teardown is in progress it is the
// core's current time: the host ticks again at once, and the other work it
// serialises runs between the steps.
func (l *Loop[C]) NextDeadline() (time.Time, bool) {
	at, ok := l.core.NextDeadline()
	for _, cn := range l.order {
		if cn.closed {
			continue
		}
		if t, has := cn.sess.NextDeadline(); has && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	return at, ok
}

// Appended is the token of the last EffectPersist appended to the log: what
// a group commit that starts now makes durable.
func (l *Loop[C]) Appended() uint64 { return l.appended }

// Synced releases the confirms held for records up to token upTo, which
// the log has made durable.
func (l *Loop[C]) Synced(upTo uint64, now time.Time) { l.core.Persisted(upTo, now) }

// StorageFailed tells the core that the durable log failed: durable work
// is refused from then on, and the publishes whose confirms waited for
// the log are left unanswered (enqueued, but maybe not on disk: their
// outcome is unknown; broker.Core.StorageFailed). The loop closes their
// connections with CodeUnavailable and a reason saying so, so that their
// publishers reconnect and resend them. The loop appends nothing more.
func (l *Loop[C]) StorageFailed(reason string, now time.Time) {
	l.logFailed = true
	closing, why := l.core.StorageFailed(reason, now)
	for _, id := range closing {
		if cn, ok := l.conns[id]; ok {
			cn.Shutdown(why.Code, why.Msg)
		}
	}
}

// Settle routes until the loop is quiet: it drains the core's outbox until
// it is empty (each effect to Host.Effect and then its session, the
// persist records of each drain to Log.Append), then calls Host.Ready for
// every touched connection, and goes round again while Ready produced more.
// Then it forgets the connections closed meanwhile. Call it after every
// step. Called from inside a Host or Log callback it does nothing: the
// running Settle covers what the callback did.
func (l *Loop[C]) Settle(now time.Time) {
	if l.settling {
		return
	}
	l.settling = true
	for {
		l.route(now)
		if len(l.touched) == 0 {
			break
		}
		batch := l.touched
		l.touched = l.spare[:0]
		for i, cn := range batch {
			batch[i] = nil
			cn.touched = false
			if !cn.closed {
				l.host.Ready(cn.host, now)
			}
		}
		l.spare = batch[:0]
		// Round again even if this round drained nothing: a Ready may
		// have closed a connection (a session that failed on its own, a
		// heartbeat timeout), and what the core emitted for the others
		// (requeued deliveries) leaves in this step, not at the next event.
	}
	l.forget()
	l.settling = false
}

// route drains the core's outbox until it is empty.
func (l *Loop[C]) route(now time.Time) {
	var zero C
	for {
		// Drain's slice stays valid until the next Drain: a session's
		// HandleEffect never calls the core, and the core calls below
		// (Log.Append's Persisted, StorageFailed) append to its other
		// buffer. No copy is needed.
		effects := l.core.Drain()
		if len(effects) == 0 {
			return
		}
		for i := range effects {
			e := &effects[i]
			if e.Kind == broker.EffectPersist {
				l.persist = append(l.persist, e)
				continue
			}
			cn := l.conns[e.Conn]
			if cn == nil {
				l.host.Effect(e, zero, false)
				continue
			}
			l.host.Effect(e, cn.host, true)
			cn.sess.HandleEffect(*e, now)
			if !cn.closed {
				l.touch(cn)
			}
		}
		if len(l.persist) > 0 {
			l.appendPersist(now)
		}
	}
}

// appendPersist gives one drain's persist effects to the log.
func (l *Loop[C]) appendPersist(now time.Time) {
	batch := l.persist
	defer func() { clear(batch); l.persist = batch[:0] }()
	if l.opts.Log == nil || l.logFailed {
		return
	}
	if err := l.opts.Log.Append(batch); err != nil {
		l.StorageFailed(err.Error(), now)
		return
	}
	l.appended = batch[len(batch)-1].Seq
	if l.opts.ReleaseOnWrite {
		l.core.Persisted(l.appended, now)
	}
}

// forget drops the connections closed since the last Settle.
func (l *Loop[C]) forget() {
	for i, cn := range l.closing {
		if l.conns[cn.id] == cn {
			delete(l.conns, cn.id)
		}
		l.closing[i] = nil
	}
	l.closing = l.closing[:0]
	if l.stale > 32 && l.stale > len(l.order)/2 {
		kept := l.order[:0]
		for _, cn := range l.order {
			if !cn.closed {
				kept = append(kept, cn)
			}
		}
		clear(l.order[len(kept):])
		l.order = kept
		l.stale = 0
	}
}
