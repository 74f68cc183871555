package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// plannedMessage is one message of the workload: drawn before the run
// starts, so faults never change what is published, only what happens to it.
type plannedMessage struct {
	id         string
	exchange   string
	routingKey string
	queues     []string // where the topology must route it (the oracle)
	plaintext  []byte
	digest     string // hex SHA-256 of plaintext, first 16 bytes
	// at is when the workload wants it published, fixed before the run, so
	// crashes delay a publish but never push the whole schedule back.
	at VTime
	// poison: the envelope gets one byte flipped after sealing, as a
	// forger or a corrupting middlebox would; it must be dead-lettered.
	poison bool
}

// publisherNode runs the real publisher engine, attached to its clientConn's
// connection engine, and the real envelope sealer.
type publisherNode struct {
	cc clientConn
	st *runState

	signer     ed25519.PrivateKey
	recipients []envelope.RecipientPublicKey
	sealer     *envelope.SessionSealer
	eng        *engine.Publisher
	// sessionMessages rotates the sealing session (and its prefix) after
	// this many messages; negative: publish whole envelopes.
	sessionMessages int
	prefix          *engine.Prefix // the current session's handle
	prefixOf        []byte         // the sealer's prefix slice it was made of

	plan []plannedMessage
	next int // next plan index to publish
	// added lists the ids given to the current engine, in order, so a crash
	// can name what was still pending without iterating a map.
	added  []string
	wakeAt VTime
	wakeOn bool

	crashes uint64
	resent  uint64 // resends of crashed incarnations
}

// restart is start after a crash, recorded in the history.
func (p *publisherNode) restart() {
	p.st.hist.publisherRestart(p.cc.w.Now(), p.name())
	p.start()
}

func (p *publisherNode) name() string { return p.cc.name() }

// start brings up a new incarnation: fresh engine, fresh sealer session.
func (p *publisherNode) start() {
	w := p.cc.w
	p.eng = engine.NewPublisher(engine.PublisherConfig{
		Window:            p.st.work.Window,
		ConfirmTimeout:    p.st.work.ConfirmTimeout,
		MaxConfirmTimeout: 4 * p.st.work.ConfirmTimeout,
		Rand:              w.rng.r,
	})
	s, err := envelope.NewSessionSealer(envelope.SessionOptions{
		Signer: p.signer, Recipients: p.recipients, Rand: w.rng, MaxMessages: uint64(max(p.sessionMessages, 0)),
	})
	if err != nil {
		panic(fmt.Sprintf("sim: publisher %s: build sealer: %v", p.name(), err))
	}
	p.cc.eng = p.cc.newEngine(engine.ConsumerConfig{}, p.st.mut.ConnConfirmOffByOne)
	p.cc.eng.AddPublisher(p.eng, w.Now().Time())
	p.sealer = s
	p.prefix, p.prefixOf = nil, nil
	p.added = p.added[:0]
	p.wakeOn = false
	w.trace.begin(w.Now(), p.name()).word("start").end()
	p.cc.start()
	p.scheduleNext()
}

// crash ends this incarnation. Every message it had not resolved becomes
// "unknown": the broker may or may not hold it.
func (p *publisherNode) crash() {
	w := p.cc.w
	p.crashes++
	w.trace.begin(w.Now(), p.name()).word("crash").end()
	for _, id := range p.added {
		if p.eng.IsPending(id) {
			p.st.hist.unknown(w.Now(), p.name(), id)
		}
	}
	p.resent += p.eng.Stats().Resent
	p.st.hist.publisherCrash(w.Now(), p.name())
	p.cc.crash()
	p.eng = nil
	p.sealer = nil
}

// scheduleNext arms the publication of the next planned message.
func (p *publisherNode) scheduleNext() {
	if p.next >= len(p.plan) {
		return
	}
	inc := p.eng
	p.cc.w.sched.at(p.plan[p.next].at, func() {
		if p.eng != inc || !p.cc.alive {
			return // crashed meanwhile; the restart schedules again
		}
		p.publishNext()
	})
}

// publishNext seals and adds the next planned message, unless the engine
// already holds enough (back-pressure, as a real client would apply).
func (p *publisherNode) publishNext() {
	w := p.cc.w
	if p.eng.Pending() >= 2*p.eng.Window() {
		inc := p.eng
		w.after(p.st.work.ConfirmTimeout/4, func() {
			if p.eng == inc && p.cc.alive {
				p.publishNext()
			}
		})
		return
	}
	m := &p.plan[p.next]
	p.next++
	var prefix, body []byte
	var err error
	if p.sessionMessages < 0 {
		body, err = p.sealer.Seal(nil, m.id, m.plaintext, w.Now().Time())
	} else {
		prefix, body, err = p.sealer.SealParts(nil, m.id, m.plaintext, w.Now().Time())
	}
	if err != nil {
		panic(fmt.Sprintf("sim: publisher %s: seal %s: %v", p.name(), m.id, err))
	}
	var handle *engine.Prefix
	switch {
	case m.poison:
		// The flipped byte may fall in the header, which other messages
		// share: a poisoned message travels whole.
		body = append(append([]byte(nil), prefix...), body...)
		body[p.cc.w.rng.intn(len(body))] ^= 0x20
	case prefix != nil:
		if p.prefix == nil || &prefix[0] != &p.prefixOf[0] {
			p.prefix, p.prefixOf = engine.NewPrefix(prefix), prefix // a new session
		}
		handle = p.prefix
	}
	if err := p.eng.Add(engine.Message{ID: m.id, Exchange: m.exchange, RoutingKey: m.routingKey, Prefix: handle, Body: body}); err != nil {
		panic(fmt.Sprintf("sim: publisher %s: add %s: %v", p.name(), m.id, err))
	}
	p.added = append(p.added, m.id)
	p.st.hist.publish(w.Now(), p.name(), m)
	w.trace.begin(w.Now(), p.name()).word("publish").str("id", m.id).str("ex", m.exchange).
		str("key", m.routingKey).str("digest", m.digest).str("poison", strconv.FormatBool(m.poison)).end()
	p.pump()
	p.scheduleNext()
}

// pump has the connection engine send what the publisher engine wants sent
// (numbered in the connection's sequence) and re-arms its timer.
func (p *publisherNode) pump() {
	w := p.cc.w
	if p.eng == nil {
		return
	}
	before := p.cc.eng.PrefixEvictions()
	frames := p.cc.eng.Pump(p.eng, w.Now().Time())
	for i := range frames {
		w.trace.begin(w.Now(), p.name()).word("send-publish").num("seq", frames[i].Seq).
			bytesWord(frames[i].MessageID).end()
	}
	p.st.cov.PrefixEvicted += p.cc.eng.PrefixEvictions() - before
	p.cc.flush()
	p.collect()
	p.arm()
}

// arm schedules a wake-up at the engine's next deadline (one pending wake
// at a time; an earlier deadline replaces it).
func (p *publisherNode) arm() {
	t, ok := p.eng.NextDeadline()
	if !ok {
		return
	}
	at := FromTime(t)
	if p.wakeOn && p.wakeAt <= at {
		return
	}
	p.wakeOn, p.wakeAt = true, at
	inc := p.eng
	p.cc.w.sched.at(at, func() {
		if p.eng != inc || p.wakeAt != at {
			return
		}
		p.wakeOn = false
		p.pump()
	})
}

// collect records every resolution the engine produced.
func (p *publisherNode) collect() {
	w := p.cc.w
	for _, r := range p.eng.Resolutions() {
		p.st.hist.resolve(w.Now(), p.name(), r)
		w.trace.begin(w.Now(), p.name()).word("resolved").str("id", r.ID).str("outcome", r.Outcome.String()).
			num("sends", uint64(r.Sends)).end()
	}
}

// ready, event and lost implement clientHooks and eventHooks.
func (p *publisherNode) ready() {
	before := p.eng.Stats().Resent
	p.pump()
	if p.eng.Stats().Resent > before {
		p.st.cov.ReconnectResend++
	}
}

// event traces the broker's answers; the connection engine has handed them
// to the publisher engine already.
func (p *publisherNode) event(ev *engine.Event) {
	w := p.cc.w
	switch {
	case ev.Kind == engine.EventAnswered && ev.Type == wire.FrameConfirm:
		w.trace.begin(w.Now(), p.name()).word("confirm").num("first", ev.First).num("last", ev.Last).end()
	case ev.Kind == engine.EventAnswered && ev.Type == wire.FrameConfirmDup:
		w.trace.begin(w.Now(), p.name()).word("confirm-dup").num("seq", ev.First).end()
		p.st.cov.DedupHitBroker++
	case ev.Kind == engine.EventAnswered && ev.Type == wire.FrameNack:
		w.trace.begin(w.Now(), p.name()).word("nack").num("seq", ev.First).num("code", uint64(ev.Code)).end()
	default:
		w.trace.begin(w.Now(), p.name()).word("unexpected-frame").str("type", ev.Type.String()).end()
		return
	}
	p.pump()
}

// lost: the connection engine has taken back what was in flight.
func (p *publisherNode) lost() {}

// digestOf names a plaintext in traces and histories.
func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}
