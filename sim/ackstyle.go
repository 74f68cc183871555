package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ciphermq/ciphermq/clients/engine"
)

// ackDraw is how a swarm seed's receivers settle their deliveries (the
// "ack styles" of issue #14), drawn per seed after the workload
// (drawConfig) so the earlier draws stay what they were:
//
//   - single: every settlement goes out on its own, as soon as it is
//     made, so the engine never folds acks into one Multiple ack (the
//     default style batches a run of acks into a Multiple);
//   - nack: the application fails this share of its deliveries for now
//     (engine.Transient: a NackDelivery with requeue), so they come back
//     redelivered, and past the delivery limit are dead-lettered;
//   - reject: the application refuses this share of the intact
//     deliveries of the ordinary queues for good (engine.Permanent: a
//     Reject), so they must reach the dead-letter queue; the history
//     records such a copy as dead-lettered only when a receiver drains it
//     from there (recorder.appRejected), so a broker that loses a
//     rejected message fails I1;
//   - ackTimeout: a short ack timeout on every queue, so a delivery held
//     during a slow batch or a lost ack expires and is redelivered more
//     often;
//   - chain: a dead-letter chain, queue -> dlq -> dlq2: the dead-letter
//     queue dead-letters into dlq2, every receiver drains both, and the
//     receivers reject chainReject of the dead letters they take from dlq
//     (so they move on to dlq2). Such a copy is recorded as dead-lettered
//     only when drained from dlq2: a broker that loses it fails I1.
type ackDraw struct {
	single       bool
	nack, reject float64
	ackTimeout   time.Duration
	chain        bool
}

// chainReject is the share of the dead letters drained from the first
// dead-letter queue of a chain that the receivers reject on to the next.
const chainReject = 0.25

func drawAcks(g *rand.Rand) ackDraw {
	var a ackDraw
	a.single = g.IntN(4) == 0
	if g.IntN(5) == 0 {
		a.nack = 0.05
	}
	if g.IntN(5) == 0 {
		a.reject = 0.03
	}
	if g.IntN(10) == 0 {
		a.ackTimeout = time.Second
	}
	a.chain = g.IntN(5) == 0
	return a
}

// on reports whether the draw changes anything.
func (a ackDraw) on() bool { return a != ackDraw{} }

// apply sets the drawn ack timeout when the caller left it at zero (raw
// is the workload as given).
func (a ackDraw) apply(raw Workload, work *Workload) {
	if raw.AckTimeout == 0 && a.ackTimeout != 0 {
		work.AckTimeout = a.ackTimeout
	}
}

func (a ackDraw) describe() string {
	return fmt.Sprintf("single=%t nack=%v reject=%v ack-timeout=%v chain=%t", a.single, a.nack, a.reject, a.ackTimeout, a.chain)
}

// refuses lets the application refuse a new delivery of an ordinary queue
// under the run's ack style: it settles the delivery Transient (nack) or
// Permanent (reject) instead of storing it, and reports whether it did.
// The draws use the world's generator only when the style has a share,
// so the runs without one replay as before.
func (r *receiverNode) refuses(ref engine.Ref, queue, id string) bool {
	a := r.st.acks
	w := r.cc.w
	switch {
	case a.nack > 0 && w.rng.chance(a.nack):
		_ = r.eng.Settle(ref, engine.Transient)
		r.st.cov.AppNack++
		w.trace.begin(w.Now(), r.name()).word("app-nack").str("id", id).str("q", queue).end()
		return true
	case a.reject > 0 && w.rng.chance(a.reject):
		_ = r.eng.Settle(ref, engine.Permanent)
		r.st.cov.AppReject++
		r.st.hist.appRejected(queue, id)
		w.trace.begin(w.Now(), r.name()).word("app-reject").str("id", id).str("q", queue).end()
		return true
	}
	return false
}

// chainRejects lets a receiver reject a dead letter from the first
// dead-letter queue of a chain on to the next; nothing is recorded until
// it is drained from there.
func (r *receiverNode) chainRejects(ref engine.Ref, queue, id string) bool {
	w := r.cc.w
	if queue != deadLetterQueue || !r.st.topo.chain || !w.rng.chance(chainReject) {
		return false
	}
	_ = r.eng.Settle(ref, engine.Permanent)
	r.st.cov.ChainReject++
	w.trace.begin(w.Now(), r.name()).word("dlq-reject").str("id", id).end()
	return true
}
