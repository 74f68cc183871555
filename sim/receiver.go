package sim

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/ciphermq/ciphermq/broker"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/internal/check"
)

// discardLogger silences the libraries' logs inside the simulator: the
// trace says what happened.
var discardLogger = slog.New(slog.DiscardHandler)

// storeFile is the receiver's output file name on its simulated disk.
const storeFile = "received.jsonl"

// receiverNode runs the real consumer engine (its clientConn's connection
// engine's) and the real receiver core
// (envelope opener + store, one fsync per batch) over a simulated Disk.
// Deliveries that arrive at the same virtual instant form one batch.
type receiverNode struct {
	cc    clientConn
	st    *runState
	queue string
	// alsoDLQ makes this receiver drain the dead-letter queue as well, so
	// dead-lettered messages are observed and accounted for.
	alsoDLQ bool

	key     *envelope.RecipientPrivateKey
	trusted []ed25519.PublicKey
	disk    *Disk
	store   *inbox.Store
	rcv     *receiver.Receiver
	eng     *engine.Consumer
	nextReq uint64

	consumes   []consumeState
	batch      []pendingStore
	inputs     []receiver.Delivery
	outcomes   []receiver.Outcome
	flushArmed bool

	// recorded holds every id the history has as processed by this
	// receiver, with the digest of the plaintext it stored. scanOff is how
	// far the store file has been read for new records.
	recorded map[string]check.Digest
	scanOff  int
	// redelivered remembers whether the stored delivery of an id was a
	// redelivery, for the history.
	redelivered map[string]bool
	out         []byte
	crashes     uint64
	// prefetchViolations and expiredHeld sum the engine's counts over
	// crashed incarnations.
	prefetchViolations, expiredHeld uint64
}

type pendingStore struct {
	ref         engine.Ref
	id          string
	queue       string
	redelivered bool
}

func (r *receiverNode) name() string { return r.cc.name() }

// start brings up a new incarnation: reopen the store from what the disk
// kept (the store repairs a torn tail), rebuild the engine with the store as
// its dedup set, and connect.
func (r *receiverNode) start() {
	w := r.cc.w
	s, err := inbox.Open(storeFile, inbox.Options{FS: diskFS{r.disk}, Logger: discardLogger})
	if errors.Is(err, ErrCrashed) {
		// The repair's own fsync crashed: down again, retry later.
		r.failStop(err)
		return
	}
	if err != nil {
		panic(fmt.Sprintf("sim: receiver %s: reopen store: %v", r.name(), err))
	}
	r.store = s
	if rec := s.Recovery(); rec.Repaired() {
		w.trace.begin(w.Now(), r.name()).word("store-repaired").num("cut", uint64(rec.CutBytes)).end()
	}
	op, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: r.key, Trusted: r.trusted})
	if err != nil {
		panic(fmt.Sprintf("sim: receiver %s: build opener: %v", r.name(), err))
	}
	if r.rcv, err = receiver.New(s, op); err != nil {
		panic(fmt.Sprintf("sim: receiver %s: %v", r.name(), err))
	}
	// Records that reached the disk during an fsync the last incarnation
	// died in are processed; only now can anyone tell which they are.
	r.scanOff = 0
	r.harvest()
	var seen engine.SeenSet = s
	if r.st.mut.ReceiverNoDedup {
		seen = nil
	}
	// The engine counts deliveries beyond the connection's total prefetch:
	// the broker promised not to send them (I6).
	prefetch := r.st.work.Prefetch
	if r.alsoDLQ {
		prefetch *= 1 + len(r.st.topo.deadLetterQueues())
	}
	r.cc.eng = r.cc.newEngine(engine.ConsumerConfig{Seen: seen, Prefetch: prefetch}, false)
	r.eng = r.cc.eng.Consumer()
	r.batch, r.inputs = r.batch[:0], r.inputs[:0]
	r.flushArmed = false
	w.trace.begin(w.Now(), r.name()).word("start").num("stored", uint64(s.Len())).end()
	r.cc.start()
}

// harvest reads the store file from scanOff and records every record the
// history does not have yet as processed, in file order (the order the
// receiver stored them), at the time the record says it was stored, with the
// digest of the plaintext actually stored (which is what I3 is about).
//
// It runs once per incarnation (after the store reopened: what survived a
// crash is exactly what the file holds) and once at the end of the run,
// not after every batch: the store's scanner is built for whole files.
func (r *receiverNode) harvest() {
	data := r.disk.Contents(storeFile)
	if r.scanOff > len(data) {
		r.scanOff = 0
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	if end <= r.scanOff {
		return
	}
	w := r.cc.w
	err := inbox.Scan(bytes.NewReader(data[r.scanOff:end]), func(rec inbox.Record) error {
		if _, ok := r.recorded[rec.MessageID]; ok {
			return nil
		}
		d := check.DigestOf(rec.Message)
		r.recorded[rec.MessageID] = d
		t := FromTime(rec.StoredAt)
		r.st.hist.processed(t, r.name(), rec.Queue, rec.MessageID, d, r.redelivered[rec.MessageID])
		w.trace.begin(w.Now(), r.name()).word("harvested").str("id", rec.MessageID).str("digest", d.String()).end()
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("sim: receiver %s: scan store: %v", r.name(), err))
	}
	r.scanOff = end
}

// crash ends this incarnation: un-synced appends are lost (maybe torn).
func (r *receiverNode) crash() {
	w := r.cc.w
	r.crashes++
	w.trace.begin(w.Now(), r.name()).word("crash").end()
	r.st.hist.receiverCrash(w.Now(), r.name())
	if r.eng != nil {
		r.prefetchViolations += r.eng.Stats().PrefetchViolations()
		r.expiredHeld += r.eng.Stats().Expired + r.eng.Stats().PrefetchExcused
	}
	r.cc.crash()
	r.disk.Crash()
	r.store, r.rcv, r.eng = nil, nil, nil
	r.batch = r.batch[:0]
	clear(r.inputs)
	r.inputs = r.inputs[:0]
}

// ready implements clientHooks: register the consumers.
func (r *receiverNode) ready() {
	r.consumes = r.consumes[:0]
	r.consumes = append(r.consumes, consumeState{queue: r.queue})
	if r.alsoDLQ {
		for _, dl := range r.st.topo.deadLetterQueues() {
			r.consumes = append(r.consumes, consumeState{queue: dl})
		}
	}
	r.sendConsumes()
}

// consumeState is one consumer registration on the current connection.
// On a lossy link a Consume or its answer may vanish, so it is sent again
// until the broker answers; the consumer tag is fixed (the queue's name), so
// a repeat that arrives after the first is refused as "in use", which
// proves the registration.
type consumeState struct {
	queue string
	req   uint64
	done  bool
}

// sendConsumes (re)sends every unanswered Consume and re-arms the retry.
func (r *receiverNode) sendConsumes() {
	b := r.out[:0]
	pending := false
	for i := range r.consumes {
		cs := &r.consumes[i]
		if cs.done {
			continue
		}
		pending = true
		r.nextReq++
		cs.req = r.nextReq
		prefetch := uint64(r.st.work.Prefetch)
		if r.st.mut.PrefetchIgnored {
			prefetch *= 4 // MUTATION: more than the receiver accounts for
		}
		b = wire.AppendConsume(b, &wire.Consume{ReqID: cs.req, Queue: cs.queue, ConsumerTag: cs.queue,
			Prefetch: prefetch})
	}
	r.out = b
	r.cc.send(b)
	if !pending {
		return
	}
	eng, c := r.eng, r.cc.conn
	r.cc.w.after(r.st.work.ConfirmTimeout, func() {
		if r.eng == eng && r.cc.conn == c && c != nil && r.cc.isReady {
			r.sendConsumes()
		}
	})
}

// consumeAnswered marks the registration with request id req as done.
func (r *receiverNode) consumeAnswered(req uint64) {
	for i := range r.consumes {
		if r.consumes[i].req == req {
			r.consumes[i].done = true
		}
	}
}

// lost implements clientHooks: the connection engine has forgotten the
// connection's deliveries.
func (r *receiverNode) lost() {
	// Deliveries of the dead connection cannot be acked any more (the
	// broker requeues them); a batch not yet processed is dropped.
	r.batch = r.batch[:0]
	clear(r.inputs)
	r.inputs = r.inputs[:0]
}

// event implements eventHooks.
func (r *receiverNode) event(ev *engine.Event) {
	w := r.cc.w
	switch ev.Kind {
	case engine.EventDeliver:
		d := ev.Deliver
		if ev.Type == wire.FrameDeliverRef {
			// The logical body, prefix ‖ rest, as the client library builds it.
			d.Body = append(append(make([]byte, 0, len(ev.Prefix)+len(d.Body)), ev.Prefix...), d.Body...)
			r.st.cov.PrefixedDelivery++
		}
		r.deliver(d)
		r.scheduleFlush()
	case engine.EventAckRefused:
		r.st.cov.StaleAckRefused++
		w.trace.begin(w.Now(), r.name()).word("ack-refused").num("tag", ev.DeliveryTag).end()
	case engine.EventReply:
		switch {
		case ev.Type == wire.FrameConsumeOK:
			r.consumeAnswered(ev.ReqID)
		case ev.Type == wire.FrameError && ev.Code == uint16(broker.CodeInUse):
			r.consumeAnswered(ev.ReqID)
		}
	default:
		w.trace.begin(w.Now(), r.name()).word("unexpected-frame").str("type", ev.Type.String()).end()
	}
}

// deliver handles one delivery frame: the engine decides, and new messages
// join the batch.
func (r *receiverNode) deliver(d *wire.Deliver) {
	w := r.cc.w
	ref, dec := r.eng.Handle(d)
	id := string(d.MessageID)
	q := string(d.Queue)
	r.st.hist.firstDelivery(r.cc.w.Now(), r.name(), r.cc.conn.inc, q, id, d)
	w.trace.begin(w.Now(), r.name()).word("deliver").num("tag", d.DeliveryTag).str("id", id).str("q", q).
		str("decision", dec.String()).end()
	if isDeadLetterQueue(q) && dec != engine.Ignored {
		if dec == engine.Process && r.chainRejects(ref, q, id) {
			return
		}
		// Dead-lettered messages are not processed as valid; they are
		// accounted for (an operator sees them) and acked. The engine's
		// dedup is by id, so it may call a dead letter a duplicate when
		// another copy of the message was stored from a live queue: it is
		// still a dead letter.
		r.st.hist.deadLetter(w.Now(), r.name(), id)
		w.trace.begin(w.Now(), r.name()).word("dead-letter").str("id", id).end()
		if dec == engine.Process {
			_ = r.eng.Settle(ref, engine.Stored)
		}
		return
	}
	switch dec {
	case engine.AckDuplicate:
		r.st.cov.DedupHitReceiver++
		return
	case engine.Parked:
		r.st.cov.ParkedTwin++
		return
	case engine.Ignored:
		return
	}
	if r.st.acks.on() && r.refuses(ref, q, id) {
		return
	}
	r.batch = append(r.batch, pendingStore{ref: ref, id: id, queue: q,
		redelivered: d.Flags&wire.FlagRedelivered != 0})
	r.inputs = append(r.inputs, receiver.Delivery{MessageID: id, Queue: q,
		Body: append([]byte(nil), d.Body...), ReceivedAt: w.Now().Time()})
	if r.st.mut.AckBeforeFsync {
		// MUTATION: the ack leaves before the record is durable.
		_ = r.eng.Settle(ref, engine.Stored)
		r.sendSettlements()
	}
}

// scheduleFlush processes the batch after everything due at this instant,
// so frames that arrived together share one fsync.
func (r *receiverNode) scheduleFlush() {
	if len(r.batch) == 0 {
		r.sendSettlements()
		return
	}
	if r.flushArmed {
		return
	}
	r.flushArmed = true
	inc := r.eng
	delay := time.Duration(0)
	if r.cc.w.rng.chance(r.st.work.SlowBatch) {
		delay = r.cc.w.rng.between(0, 2*r.st.work.AckTimeout)
		r.cc.w.trace.begin(r.cc.w.Now(), r.name()).word("slow-batch").num("ms", uint64(delay/time.Millisecond)).end()
	}
	r.cc.w.after(delay, func() {
		if r.eng == inc && r.cc.alive {
			r.flushArmed = false
			r.flush()
		}
	})
}

// flush hands the batch to the real receiver core (dedup, open, append,
// one fsync), then settles each delivery by its verdict.
func (r *receiverNode) flush() {
	if len(r.batch) == 0 {
		r.sendSettlements()
		return
	}
	w := r.cc.w
	var err error
	r.outcomes, err = r.rcv.Process(r.inputs, w.Now().Time(), r.outcomes)
	if err != nil {
		r.failStop(err)
		return
	}
	for i, p := range r.batch {
		o := r.outcomes[i]
		res := engine.Stored
		switch o.Verdict {
		case receiver.Stored:
			r.redelivered[p.id] = p.redelivered
			w.trace.begin(w.Now(), r.name()).word("stored").str("id", p.id).end()
		case receiver.Duplicate:
			r.st.cov.DedupHitReceiver++
			if r.st.mut.ReceiverNoDedup {
				// MUTATION: with dedup off the application's side effect
				// runs again although the store already had the record.
				r.st.hist.processed(w.Now(), r.name(), p.queue, p.id, r.st.hist.digests[p.id], p.redelivered)
			}
		case receiver.Rejected:
			res = engine.Permanent
			r.st.hist.reject(w.Now(), r.name(), p.queue, p.id, o.Reason)
			w.trace.begin(w.Now(), r.name()).word("rejected").str("id", p.id).str("reason", o.Reason).end()
		default:
			res = engine.Transient
		}
		if !r.st.mut.AckBeforeFsync {
			_ = r.eng.Settle(p.ref, res)
			if r.st.acks.single {
				r.sendSettlements() // one frame per settlement, never Multiple
			}
		}
	}
	r.batch = r.batch[:0]
	clear(r.inputs)
	r.inputs = r.inputs[:0]
	r.sendSettlements()
}

// sendSettlements writes the engine's ack/nack/reject frames.
func (r *receiverNode) sendSettlements() {
	if r.eng == nil {
		return
	}
	for _, s := range r.cc.eng.FlushSettlements() {
		switch s.Kind {
		case engine.SettleAck:
			tr := r.cc.w.trace.begin(r.cc.w.Now(), r.name()).word("ack").num("tag", s.DeliveryTag)
			if s.Multiple {
				tr.word("multiple")
			}
			tr.end()
		case engine.SettleNack:
			r.cc.w.trace.begin(r.cc.w.Now(), r.name()).word("nack").num("tag", s.DeliveryTag).end()
		case engine.SettleReject:
			r.cc.w.trace.begin(r.cc.w.Now(), r.name()).word("reject").num("tag", s.DeliveryTag).end()
		}
	}
	r.cc.flush()
}

// failStop handles a store failure the way the receiver core asks: after a
// failed write or fsync nothing about durability is known, so the process
// stops and restarts from what the disk really holds (PostgreSQL's answer to
// fsync errors). An injected crash inside fsync ends up here too.
func (r *receiverNode) failStop(err error) {
	w := r.cc.w
	if errors.Is(err, ErrCrashed) || r.disk.CrashPending() {
		r.st.cov.CrashInFsync++
	}
	w.trace.begin(w.Now(), r.name()).word("fail-stop").end()
	r.crash()
	r.st.restartLater(r.name(), r.st.failStopDowntime(), r.restart)
}

// restart is start after a crash, recorded in the history.
func (r *receiverNode) restart() {
	r.st.hist.receiverRestart(r.cc.w.Now(), r.name())
	r.start()
}

// diskFS adapts a Disk to inbox.FS.
type diskFS struct{ d *Disk }

func (f diskFS) OpenLocked(name string) (inbox.File, error) {
	h, err := f.d.OpenLocked(name)
	if err != nil {
		return nil, err
	}
	return h, nil
}
