package sim

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// hostileNode is the hostile tenant of an authenticated run: a client with
// its own user (hostileUser) that may configure, read and write only names
// starting with "m.", plus read and write on the shared exchange. On a
// schedule drawn from the run's generator it
//
//   - tries every operation it is denied on the honest objects (declare and
//     delete their queues and exchanges, bind its queue to an honest
//     exchange and an honest queue to the shared one, unbind, consume,
//     fetch, publish, dead-letter into the honest dead-letter queue): each
//     must be refused with CodeAccessRefused (601), and anything else is an
//     access-control finding (Result.AccessViolations);
//   - taps and jams within its grants: binds its own queue to the shared
//     exchange (copies of the honest broadcasts, sealed for others), and
//     declares one queue beyond its limit (CodeResourceLimit);
//   - pre-publishes the honest publishers' future message ids, on its own
//     exchange and on the shared one: dedup is scoped per user, so the
//     honest publishes must still be enqueued (I1 would catch a loss).
//
// Its link is always calm: the weather is for the honest clients.
type hostileNode struct {
	st *runState
	cc clientConn

	nextReq, nextSeq uint64
	// open requests and publishes of the current connection.
	reqs map[uint64]hostileOp
	pubs map[uint64]hostileOp

	stats HostileStats
}

// hostileOp is one request in flight: what it tried and whether it must be
// refused.
type hostileOp struct {
	what   string
	denied bool
	honest string // a pre-published honest id
}

// HostileStats counts what the hostile tenant tried and got.
type HostileStats struct {
	// Denied is how many operations it sent that its permissions deny.
	Denied uint64 `json:"denied"`
	// Refused counts the refusals it got, by code: its denied operations
	// (601) and its attempts beyond its limits (500).
	Refused map[uint16]uint64 `json:"refused"`
	// PrePublished counts honest ids it managed to publish first.
	PrePublished uint64 `json:"pre_published"`
	// Tapped counts deliveries of its own queues.
	Tapped uint64 `json:"tapped"`
	// Unanswered counts denied operations that got no answer because
	// their connection ended first (a broker crash, a cut link): sent
	// into a connection the tenant did not yet know was dead. Every
	// denied operation is either refused with 601, answered otherwise (an
	// access violation) or unanswered.
	Unanswered uint64 `json:"unanswered"`
}

// Add adds o's counts to s.
func (s *HostileStats) Add(o HostileStats) {
	s.Denied += o.Denied
	s.PrePublished += o.PrePublished
	s.Tapped += o.Tapped
	s.Unanswered += o.Unanswered
	for code, n := range o.Refused {
		s.refused(code, n)
	}
}

func (s *HostileStats) refused(code uint16, n uint64) {
	if s.Refused == nil {
		s.Refused = map[uint16]uint64{}
	}
	s.Refused[code] += n
}

// String lists the counts, refusals by code in code order.
func (s HostileStats) String() string {
	codes := make([]uint16, 0, len(s.Refused))
	for code := range s.Refused {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	out := fmt.Sprintf("denied ops tried %d, refusals by code:", s.Denied)
	if len(codes) == 0 {
		out += " none"
	}
	for _, code := range codes {
		out += fmt.Sprintf(" %d=%d", code, s.Refused[code])
	}
	return out + fmt.Sprintf(", unanswered (connection lost first) %d, honest ids pre-published %d, tapped %d", s.Unanswered, s.PrePublished, s.Tapped)
}

// newHostile builds the tenant and draws its attack schedule.
func (st *runState) newHostile(cc clientConn) *hostileNode {
	h := &hostileNode{st: st, cc: cc}
	h.cc.hooks = h
	h.cc.wrongFirst = true // its first login is the auth-failure probe
	span := time.Duration(st.healAt)
	rounds := 3 + st.w.rng.intn(4)
	for range rounds {
		st.w.sched.at(VTime(st.w.rng.between(span/20, span)), h.round)
	}
	return h
}

func (h *hostileNode) name() string { return h.cc.name() }

func (h *hostileNode) req(what string, denied bool) uint64 {
	h.nextReq++
	h.reqs[h.nextReq] = hostileOp{what: what, denied: denied}
	if denied {
		h.stats.Denied++
	}
	return h.nextReq
}

// ready implements clientHooks: set up its own objects (again, after a
// reconnect or a broker restart).
func (h *hostileNode) ready() {
	h.forgetPending() // nothing, unless a connection ended unnoticed
	h.reqs = map[uint64]hostileOp{}
	h.pubs = map[uint64]hostileOp{}
	b := h.cc.out[:0]
	b = wire.AppendDeclareExchange(b, &wire.DeclareExchange{ReqID: h.req("declare own exchange", false), Name: hostileEx, Type: uint8(broker.Topic)})
	for _, q := range []string{hostileTap, hostileJam} {
		b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: h.req("declare own queue", false), Name: q})
	}
	// The tap: copies of every honest broadcast on the shared exchange.
	b = wire.AppendBind(b, &wire.Bind{ReqID: h.req("tap the shared exchange", false), Exchange: sharedExchange, Queue: hostileTap, Key: "t.all.#"})
	b = wire.AppendBind(b, &wire.Bind{ReqID: h.req("bind own queue", false), Exchange: sharedExchange, Queue: hostileJam, Key: "m.#"})
	b = wire.AppendBind(b, &wire.Bind{ReqID: h.req("bind own queue", false), Exchange: hostileEx, Queue: hostileJam, Key: "#"})
	for _, q := range []string{hostileTap, hostileJam} {
		b = wire.AppendConsume(b, &wire.Consume{ReqID: h.req("consume own queue", false), Queue: q, ConsumerTag: q, Prefetch: 64})
	}
	h.cc.out = b
	h.cc.send(b)
}

// round is one attack: every denied operation, one jam beyond the limits,
// and pre-publishes of honest ids.
func (h *hostileNode) round() {
	st, w := h.st, h.st.w
	if !h.cc.isReady {
		return
	}
	q := st.topo.queues[w.rng.intn(len(st.topo.queues))]
	w.trace.begin(w.Now(), h.name()).word("attack").str("q", q).end()
	b := h.cc.out[:0]
	b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: h.req("declare honest queue "+q, true), Name: q})
	b = wire.AppendDeleteQueue(b, &wire.DeleteQueue{ReqID: h.req("delete honest queue "+q, true), Name: q})
	b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: h.req("dead-letter into the honest dead-letter queue", true), Name: hostilePre + "dl", DeadLetterQueue: deadLetterQueue})
	b = wire.AppendDeclareExchange(b, &wire.DeclareExchange{ReqID: h.req("declare honest exchange", true), Name: exDirect, Type: uint8(broker.Direct)})
	b = wire.AppendDeleteExchange(b, &wire.DeleteExchange{ReqID: h.req("delete honest exchange", true), Name: exFanout})
	b = wire.AppendBind(b, &wire.Bind{ReqID: h.req("bind own queue to an honest exchange", true), Exchange: exDirect, Queue: hostileTap, Key: q})
	b = wire.AppendBind(b, &wire.Bind{ReqID: h.req("bind honest queue "+q+" to the shared exchange", true), Exchange: sharedExchange, Queue: q, Key: "#"})
	b = wire.AppendUnbind(b, &wire.Unbind{ReqID: h.req("unbind honest queue "+q, true), Exchange: exDirect, Queue: q, Key: q})
	b = wire.AppendConsume(b, &wire.Consume{ReqID: h.req("consume honest queue "+q, true), Queue: q, ConsumerTag: "h-" + q})
	b = wire.AppendFetch(b, &wire.Fetch{ReqID: h.req("fetch the honest dead-letter queue", true), Queue: deadLetterQueue})
	b = wire.AppendFetch(b, &wire.Fetch{ReqID: h.req("fetch honest queue "+q, true), Queue: q})
	// A publish into an honest queue through an honest exchange.
	h.nextSeq++
	h.pubs[h.nextSeq] = hostileOp{what: "publish to honest exchange " + exDirect, denied: true}
	h.stats.Denied++
	body := make([]byte, 8+w.rng.intn(64))
	_, _ = w.rng.Read(body)
	b = wire.AppendPublish(b, &wire.Publish{Seq: h.nextSeq, Exchange: []byte(exDirect), RoutingKey: []byte(q),
		MessageID: []byte("h-" + strconv.FormatUint(h.nextSeq, 10)), Body: body})
	// Jam: one queue beyond its limit.
	b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: h.req("declare a queue beyond the limit", false), Name: hostileExtra})
	// Pre-publish honest ids that are not published yet, on its own
	// exchange and on the shared one.
	for range 1 + w.rng.intn(3) {
		p := st.pubs[w.rng.intn(len(st.pubs))]
		if p.next >= len(p.plan) {
			continue
		}
		m := &p.plan[p.next+w.rng.intn(len(p.plan)-p.next)]
		for _, ex := range []string{sharedExchange, hostileEx} {
			h.nextSeq++
			h.pubs[h.nextSeq] = hostileOp{what: "pre-publish " + m.id + " on " + ex, honest: m.id}
			b = wire.AppendPublish(b, &wire.Publish{Seq: h.nextSeq, Exchange: []byte(ex), RoutingKey: []byte("m.jam"),
				MessageID: []byte(m.id), Body: body})
		}
	}
	h.cc.out = b
	h.cc.send(b)
}

// frame implements clientHooks: judge every answer.
func (h *hostileNode) frame(t wire.FrameType, payload []byte) {
	switch t {
	case wire.FrameOK:
		var f wire.OK
		if wire.DecodeOK(payload, &f) == nil {
			h.answered(f.ReqID, t.String(), 0)
		}
	case wire.FrameError:
		var f wire.Error
		if wire.DecodeErrorFrame(payload, &f) == nil {
			h.answered(f.ReqID, "refused", f.Code)
		}
	case wire.FrameConsumeOK:
		var f wire.ConsumeOK
		if wire.DecodeConsumeOK(payload, &f) == nil {
			h.answered(f.ReqID, t.String(), 0)
		}
	case wire.FrameFetchOK:
		var f wire.FetchOK
		if wire.DecodeFetchOK(payload, &f) == nil {
			h.answered(f.ReqID, t.String(), 0)
			h.ack(f.Deliver.DeliveryTag)
		}
	case wire.FrameFetchEmpty:
		var f wire.FetchEmpty
		if wire.DecodeFetchEmpty(payload, &f) == nil {
			h.answered(f.ReqID, t.String(), 0)
		}
	case wire.FrameConfirm:
		var f wire.Confirm
		if wire.DecodeConfirm(payload, &f) == nil {
			for seq := f.First; seq <= f.Last && seq >= f.First; seq++ {
				h.published(seq, "confirmed", 0)
			}
		}
	case wire.FrameConfirmDup:
		var f wire.ConfirmDup
		if wire.DecodeConfirmDup(payload, &f) == nil {
			h.published(f.Seq, "confirmed as duplicate", 0)
		}
	case wire.FrameNack:
		var f wire.Nack
		if wire.DecodeNack(payload, &f) == nil {
			h.published(f.Seq, "refused", f.Code)
		}
	case wire.FrameDeliver:
		var f wire.Deliver
		if wire.DecodeDeliver(payload, &f) == nil {
			h.stats.Tapped++
			h.ack(f.DeliveryTag)
		}
	}
}

func (h *hostileNode) ack(tag uint64) {
	h.cc.out = wire.AppendAck(h.cc.out[:0], &wire.Ack{DeliveryTag: tag})
	h.cc.send(h.cc.out)
}

// answered judges the answer to request id: a denied operation must be
// refused with CodeAccessRefused.
// forgetPending counts the denied operations still waiting for an answer
// as unanswered: called when a new connection replaces the one they were
// sent on, and at the end of the run.
func (h *hostileNode) forgetPending() {
	for _, op := range h.reqs {
		if op.denied {
			h.stats.Unanswered++
		}
	}
	for _, op := range h.pubs {
		if op.denied {
			h.stats.Unanswered++
		}
	}
	clear(h.reqs)
	clear(h.pubs)
}

func (h *hostileNode) answered(id uint64, answer string, code uint16) {
	op, ok := h.reqs[id]
	if !ok {
		return
	}
	delete(h.reqs, id)
	h.judge(op, answer, code)
}

func (h *hostileNode) published(seq uint64, answer string, code uint16) {
	op, ok := h.pubs[seq]
	if !ok {
		return
	}
	delete(h.pubs, seq)
	if op.honest != "" && answer == "confirmed" {
		h.stats.PrePublished++
		h.st.cov.HostilePrePublished++
	}
	h.judge(op, answer, code)
}

func (h *hostileNode) judge(op hostileOp, answer string, code uint16) {
	w := h.st.w
	if code != 0 {
		h.stats.refused(code, 1)
	}
	if !op.denied {
		return
	}
	if code == uint16(broker.CodeAccessRefused) {
		h.st.cov.HostileRefused++
		return
	}
	what := fmt.Sprintf("%s: the hostile tenant's denied operation was %s", op.what, answer)
	if code != 0 {
		what += fmt.Sprintf(" with code %d, not %d", code, broker.CodeAccessRefused)
	}
	w.trace.begin(w.Now(), h.name()).word("access-violated").str("what", what).end()
	h.st.accessViolations = append(h.st.accessViolations, fmt.Sprintf("%s at %v: %s", h.name(), w.Now(), what))
}

// finish ends the run for the tenant: a denied operation still waiting for
// an answer on a live connection after the liveness phase was never
// answered, which the broker owes (an access violation); on a dead one it
// is unanswered.
func (h *hostileNode) finish() {
	if h.cc.isReady {
		for _, op := range h.reqs {
			if op.denied {
				h.judge(op, "never answered", 0)
			}
		}
		for _, op := range h.pubs {
			if op.denied {
				h.judge(op, "never answered", 0)
			}
		}
		clear(h.reqs)
		clear(h.pubs)
	}
	h.forgetPending()
}

// lost implements clientHooks: what was in flight is forgotten (its
// denied operations counted as unanswered).
func (h *hostileNode) lost() {
	h.forgetPending()
}
