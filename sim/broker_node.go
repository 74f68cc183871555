package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/driver"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// brokerNode is the real broker core plus one real native protocol session
// per connection, driven by the server's driver loop (broker/driver). Bytes
// from the links are fed into the sessions, so every frame is parsed and
// produced by broker/wire, and every effect routed, exactly as in the
// server. brokerNode is the loop's Host (Effect, Ready: traces, and writing
// a touched connection's output to its link at once) and, in durable mode,
// its Log (Append).
type brokerNode struct {
	w   *World
	st  *runState
	cfg broker.Config
	scf protocol.Config

	up   bool
	core *broker.Core
	loop *driver.Loop[*brokerConn] // one per incarnation, around core

	wakeAt VTime
	wakeOn bool
	inc    uint64 // incarnation, bumped by every restart

	// Durable mode: the broker's write-ahead log (the real broker/wal)
	// over its in-memory crash-simulating file system, which survives
	// incarnations. A group-commit fsync runs after a short disk delay.
	fs        *wal.MemFS
	log       *wal.Store
	syncArmed bool

	crashes uint64
	// segments is the log's segment count after the last fsync: a rise is
	// a roll, a fall a compaction (coverage).
	segments int
}

// countSegments notes rolls and compactions of the durable log.
func (b *brokerNode) countSegments() {
	n := b.log.Stats().Segments
	switch {
	case n > b.segments:
		b.st.cov.SegmentRolled++
	case n < b.segments:
		b.st.cov.LogCompacted++
	}
	b.segments = n
}

type brokerConn struct {
	c     *Conn
	s     protocol.Session
	lc    *driver.Conn[*brokerConn]
	inbuf []byte
	gone  bool
	// meter is set on the hostile-load node's connections (load.go).
	meter *loadMeter
}

func (b *brokerNode) name() string { return "broker" }

// start brings up a new incarnation: a new core with the configured
// topology. Topology is configuration (as an operator's declarations would
// be), so every incarnation has it before it accepts a connection.
func (b *brokerNode) start() {
	b.inc++
	if b.fs != nil {
		b.restore()
	} else {
		b.core = broker.New(b.cfg)
	}
	opts := driver.Options{
		// MUTATION: confirms leave once the records are written, before
		// they are durable.
		ReleaseOnWrite: b.st.mut.BrokerConfirmBeforeFsync,
	}
	if b.log != nil {
		opts.Log = b
	}
	b.loop = driver.New(b.core, b, opts)
	b.wakeOn = false
	if err := b.st.topo.declare(b.core); err != nil {
		panic(fmt.Sprintf("sim: declare topology: %v", err))
	}
	b.st.oracle.started(b.core, b.inc, b.w.Now())
	b.up = true
	b.w.trace.begin(b.w.Now(), "broker").word("start").num("incarnation", b.inc).end()
}

// crash kills the broker process. What its in-memory queues held is
// legitimately lost; the history records what it held, and the checker
// excuses only the copies in non-durable queues. In durable mode the
// machine loses power: the log keeps what was fsynced, perhaps plus a torn
// tail.
func (b *brokerNode) crash() {
	if !b.up {
		return
	}
	b.crashes++
	// The hostile tenant's queues are no honest queue's history.
	held := slices.DeleteFunc(b.core.Held(), func(m broker.HeldMessage) bool { return tenantQueue(m.Queue) })
	slices.SortFunc(held, func(x, y broker.HeldMessage) int {
		if x.Queue != y.Queue {
			if x.Queue < y.Queue {
				return -1
			}
			return 1
		}
		switch {
		case x.MessageID < y.MessageID:
			return -1
		case x.MessageID > y.MessageID:
			return 1
		}
		return 0
	})
	b.w.trace.begin(b.w.Now(), "broker").word("crash").num("held", uint64(len(held))).end()
	b.st.hist.brokerLost(b.w.Now(), held)
	for lc := range b.loop.Conns() {
		if bc := lc.Host(); !bc.gone {
			bc.gone = true
			b.w.net.closeFrom(bc.c, sideBroker, "broker crash")
		}
	}
	b.up = false
	b.core = nil
	b.loop = nil
	if b.fs != nil {
		torn := 0
		if b.w.rng.chance(0.5) {
			torn = 1 + b.w.rng.intn(256)
		}
		b.fs.Crash(torn)
		b.st.oracle.crashed()
		b.log = nil
		b.syncArmed = false
	}
}

// restore opens the log and rebuilds the core from it, as the server does
// on start-up.
func (b *brokerNode) restore() {
	now := b.w.Now().Time()
	st, rec, err := wal.Open(b.fs, wal.Options{Policy: wal.SyncAlways, Logger: discardLogger, SegmentSize: b.st.drawn.segmentSize})
	if err != nil {
		panic(fmt.Sprintf("sim: broker: open its log after a crash: %v", err))
	}
	core, err := broker.Restore(b.cfg, rec, st.ReadMessage, now)
	if err != nil {
		panic(fmt.Sprintf("sim: broker: restore from its log: %v", err))
	}
	b.log, b.core = st, core
	b.segments = st.Stats().Segments
	b.w.trace.begin(b.w.Now(), "broker").word("restored").num("queues", uint64(len(rec.Queues))).end()
}

// Append implements driver.Log: each EffectPersist's records are appended
// on their own (the log's segment rolls fall where they always did), and
// the group commit is armed.
func (b *brokerNode) Append(effects []*broker.Effect) error {
	for _, e := range effects {
		if _, err := b.log.Append(e.Records...); err != nil {
			return err
		}
		b.st.oracle.persisted(e.Seq, e.Records)
	}
	if b.syncArmed {
		return nil
	}
	b.syncArmed = true
	inc := b.inc
	b.w.after(b.w.rng.between(100*time.Microsecond, 2*time.Millisecond), func() {
		if !b.up || b.inc != inc {
			return
		}
		b.syncArmed = false
		if b.diskFaultInSync() {
			return
		}
		tok := b.loop.Appended()
		if _, err := b.log.Sync(); err != nil {
			b.loop.StorageFailed(err.Error(), b.w.Now().Time())
		} else {
			b.w.trace.begin(b.w.Now(), "broker").word("fsync").num("token", tok).end()
			b.st.oracle.fsynced(tok)
			b.countSegments()
			b.loop.Synced(tok, b.w.Now().Time())
		}
		b.settle()
	})
	return nil
}

// accept registers a new connection; false while the broker is down.
func (b *brokerNode) accept(c *Conn) bool {
	if !b.up {
		return false
	}
	now := b.w.Now().Time()
	c.inc = b.inc
	bc := &brokerConn{c: c, s: protocol.NewNative(b.core, c.ID, b.scf, now)}
	if b.st.load != nil && c.link == b.st.load.cc.link {
		bc.meter = &loadMeter{}
	}
	bc.lc = b.loop.Open(c.ID, bc.s, bc)
	b.w.trace.begin(b.w.Now(), "broker").word("accept").num("conn", uint64(c.ID)).end()
	b.settle()
	return true
}

// conn returns the open connection c, or nil.
func (b *brokerNode) conn(c *Conn) *brokerConn {
	lc, ok := b.loop.Lookup(c.ID)
	if !ok || lc.Host().gone {
		return nil
	}
	return lc.Host()
}

// onBytes implements endpoint: feed the session, route the core's effects,
// flush outputs.
func (b *brokerNode) onBytes(c *Conn, data []byte) {
	if !b.up {
		return
	}
	bc := b.conn(c)
	if bc == nil {
		return
	}
	now := b.w.Now().Time()
	bc.inbuf = append(bc.inbuf, data...)
	var err error
	if bc.meter != nil {
		err = b.meterFeed(bc, now)
	}
	for bc.meter == nil && len(bc.inbuf) > 0 && err == nil {
		// A session stops early at its output bound; the simulated
		// transport has no back pressure, so feed it on at once.
		var n int
		n, err = bc.lc.Feed(bc.inbuf, now)
		k := copy(bc.inbuf, bc.inbuf[n:])
		bc.inbuf = bc.inbuf[:k]
		if n == 0 {
			break
		}
	}
	if err != nil {
		b.w.trace.begin(b.w.Now(), "broker").word("feed-error").num("conn", uint64(c.ID)).str("err", err.Error()).end()
	}
	bc.lc.Touch() // meterFeed feeds the session itself
	b.pollAuth(bc)
	b.settle()
}

// onBroken implements endpoint: the transport is gone, so the session
// detaches from the core and its unacked deliveries requeue.
func (b *brokerNode) onBroken(c *Conn) {
	if !b.up {
		return
	}
	bc := b.conn(c)
	if bc == nil {
		return
	}
	b.closeConn(bc, "transport broke")
	b.settle()
}

func (b *brokerNode) closeConn(bc *brokerConn, why string) {
	bc.gone = true
	if bc.meter != nil {
		// Close also spends its budget on older teardowns still pending.
		older := b.core.Closing() > 0
		w0, _ := b.core.WorkMeter()
		bc.lc.Close(b.w.Now().Time())
		w1, states := b.core.WorkMeter()
		b.judgeLoad(fmt.Sprintf("close of connection %d (%s; %d consumes, %d deliveries)", bc.c.ID, why, bc.meter.consumes, bc.meter.delivered),
			w1-w0, uint64(states), bc.meter.closeBound(older), 0)
	} else {
		bc.lc.Close(b.w.Now().Time())
	}
	if b.core.Closing() > 0 {
		b.st.cov.ChunkedTeardown++
	}
	b.w.trace.begin(b.w.Now(), "broker").word("close").num("conn", uint64(bc.c.ID)).str("why", why).end()
}

// settle runs the driver loop until quiet (effects to sessions and the
// log, touched connections' output to their links, closes), then checks the
// step and re-arms the timer.
func (b *brokerNode) settle() {
	b.loop.Settle(b.w.Now().Time())
	b.checkBounds()
	b.st.oracle.step(b.core, b.w.Now())
	b.arm()
}

// Effect implements driver.Host: trace an effect routed to an open
// connection (a closing one's go to its closed session untraced).
func (b *brokerNode) Effect(e *broker.Effect, bc *brokerConn, ok bool) {
	if !ok || bc.gone {
		return // the connection closed after the core queued this
	}
	if bc.meter != nil && e.Kind == broker.EffectDeliver {
		bc.meter.delivered++
	}
	b.traceEffect(*e)
}

// Ready implements driver.Host: the simulated transport takes a touched
// connection's output at once, and a closed session closes its link.
func (b *brokerNode) Ready(bc *brokerConn, now time.Time) {
	if bc.gone {
		return
	}
	if out := bc.s.Output(); len(out) > 0 {
		b.w.net.send(bc.c, down, out)
		bc.lc.Wrote(len(out), now)
	}
	if closed, why := bc.s.Closed(); closed {
		b.w.net.closeFrom(bc.c, sideBroker, why)
		b.closeConn(bc, why)
	}
}

// checkBounds checks I6 after every step of the broker: no queue holds more
// than its MaxLength. A refusal (CodeQueueFull) is the only legal answer to
// a full queue; exceeding the bound is recorded as a finding.
func (b *brokerNode) checkBounds() {
	limit, maxBytes := b.st.topo.opts.MaxLength, b.st.topo.opts.MaxBytes
	if limit <= 0 && maxBytes <= 0 {
		return
	}
	for _, q := range b.st.topo.queues {
		qs, ok := b.core.Queue(q)
		if !ok {
			continue
		}
		f := overLimit(qs, limit)
		if f == "" {
			f = overBytes(qs, maxBytes)
		}
		if f != "" {
			b.st.boundViolations = append(b.st.boundViolations, fmt.Sprintf("%v %s", b.w.Now(), f))
		}
	}
}

// overBytes describes a queue holding more body bytes than maxBytes (when
// positive), or is "".
func overBytes(qs broker.QueueStats, maxBytes int64) string {
	if maxBytes > 0 && qs.Bytes > maxBytes {
		return fmt.Sprintf("queue %s holds %d bytes (%d ready, %d unacked), above its max bytes %d", qs.Name, qs.Bytes, qs.Ready, qs.Unacked, maxBytes)
	}
	return ""
}

// overLimit describes a queue holding more than limit messages, or is "".
func overLimit(qs broker.QueueStats, limit int) string {
	if held := qs.Ready + qs.Unacked; limit > 0 && held > limit {
		return fmt.Sprintf("queue %s holds %d messages (%d ready, %d unacked), above its max length %d", qs.Name, held, qs.Ready, qs.Unacked, limit)
	}
	return ""
}

func (b *brokerNode) traceEffect(e broker.Effect) {
	tr := b.w.trace.begin(b.w.Now(), "broker").word(effectWord(e.Kind)).num("conn", uint64(e.Conn))
	switch e.Kind {
	case broker.EffectConfirm:
		tr.num("seq", e.Seq)
		if e.Duplicate {
			tr.word("dup")
		}
	case broker.EffectRefuse:
		tr.num("seq", e.Seq)
		if e.Err != nil {
			tr.num("code", uint64(e.Err.Code))
		}
	case broker.EffectDeliver:
		tr.num("tag", e.Delivery.Tag).str("q", e.Delivery.Queue).str("id", e.Delivery.MessageID).
			num("count", uint64(e.Delivery.DeliveryCount))
		if tenantQueue(e.Delivery.Queue) {
			break // the hostile tenant's and the load node's own queues
		}
		if e.Delivery.Redelivered {
			b.st.cov.Redelivery++
		}
		if isDeadLetterQueue(e.Delivery.Queue) {
			b.st.cov.DeadLetter++
		} else if lim := b.st.work.DeliveryLimit; lim > 0 && int(e.Delivery.DeliveryCount) >= lim {
			b.st.hist.lastDelivery(e.Delivery.Queue, e.Delivery.MessageID)
		}
	}
	tr.end()
}

func effectWord(k broker.EffectKind) string {
	switch k {
	case broker.EffectConfirm:
		return "confirm"
	case broker.EffectRefuse:
		return "refuse"
	case broker.EffectDeliver:
		return "deliver"
	}
	return "effect"
}

// simTeardownStep is the broker's teardown budget in the simulator: far
// below the default, so that the closes of honest receivers holding a
// few deliveries, not only the hostile-load node's, are cut into steps
// (broker/teardown.go) and the checkers see chunked redelivery.
const simTeardownStep = 16

// nextDeadline is the earliest timer of the core and all sessions.
func (b *brokerNode) nextDeadline() (VTime, bool) {
	t, ok := b.loop.NextDeadline()
	return FromTime(t), ok
}

// arm keeps one wake-up scheduled at the earliest deadline.
func (b *brokerNode) arm() {
	at, ok := b.nextDeadline()
	if !ok || (b.wakeOn && b.wakeAt <= at) {
		return
	}
	b.wakeOn, b.wakeAt = true, at
	inc := b.inc
	b.w.sched.at(at, func() {
		if !b.up || b.inc != inc || b.wakeAt != at {
			return
		}
		b.wakeOn = false
		b.tick()
	})
}

// tick runs the core's and the sessions' timers that are due.
func (b *brokerNode) tick() {
	now := b.w.Now().Time()
	if b.st.load != nil {
		w0, _ := b.core.WorkMeter()
		b.loop.TickCore(now)
		w1, states := b.core.WorkMeter()
		b.judgeLoad("tick (teardown and unpark steps)", w1-w0, uint64(states), boundCallWork, 0)
	} else {
		b.loop.TickCore(now)
	}
	b.loop.TickSessions(now)
	b.settle()
}
