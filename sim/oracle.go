package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// The broker-level oracles. They watch the core itself, never the
// receivers: after every broker step the simulator compares what the core
// holds (Core.Held) with what it held after the previous step, and names
// each copy that appeared. A copy that appears in an ordinary queue is an
// enqueue (the queue's Published counter must have grown by exactly as
// many); one that appears in the dead-letter queue is a dead letter (one
// copy of that id must have left an ordinary queue in the same step).
// Three checks follow, each of which fails the run:
//
//   - routing (Result.Misrouted): the queues one step enqueued an id into
//     are exactly the queues the reference model (refmodel.go) routes its
//     publish to, no more, no fewer; every confirmed publish was enqueued
//     at least once; nothing appears that no publisher published; a dead
//     letter comes from a queue that held the id; a restarted broker
//     restores only copies that were enqueued before.
//   - exactly-once (Result.EnqueuedAgain): an id is enqueued at most once
//     per queue while the broker can remember it: within one incarnation
//     always (the dedup window is in memory), and across a restart when
//     the id's publish record was fsynced before the crash (a durable
//     broker restores its dedup window from the log). An in-memory broker
//     forgets its window with its process, and a durable one forgets what
//     it never fsynced: a later enqueue is then counted (Resent) but is
//     no finding.
//
// The receivers' dedup can hide neither: they are not asked.
type enqueueOracle struct {
	model   *refModel
	durable bool
	window  time.Duration // the broker's dedup window
	queues  []string      // observed: the honest queues, then the dead-letter queue
	// expect maps each planned message id to its publish's exchange and
	// key (filled as publishers plan).
	expect map[string]plannedRoute

	inc  uint64
	sigs []queueSig
	held map[heldKey]int // the copies the core held after the last step

	enqueues map[heldKey][]enqueueAt
	enqueued map[string]bool
	// synced: ids whose publish record an fsync made durable (durable
	// mode); unsynced: appended, not yet fsynced, by store sequence.
	synced   map[string]bool
	unsynced []persistedID

	misrouted     []string
	enqueuedAgain []string
	// Resent counts later enqueues the broker could not have recognised
	// (an earlier incarnation's copy whose dedup record was not durable).
	resent uint64
	// Steps counts the broker steps that changed a queue and were compared.
	steps uint64
}

type plannedRoute struct{ exchange, key string }

type heldKey struct{ queue, id string }

type enqueueAt struct {
	inc uint64
	at  VTime
}

type persistedID struct {
	seq uint64
	id  string
}

// queueSig is what the oracle compares to skip steps that changed no
// queue's contents (every way a copy enters or leaves a queue moves one of
// these counters).
type queueSig struct {
	published, deadLetterIn, acked, deadLettered, discarded uint64
	// held is ready + unacked: a delivery or a requeue moves a copy
	// between the two and changes nothing the oracle compares.
	held int
	ok   bool
}

func newEnqueueOracle(model *refModel, queues []string, durable bool, window time.Duration) *enqueueOracle {
	return &enqueueOracle{model: model, durable: durable, window: window,
		queues: append(append([]string(nil), queues...), deadLetterQueue),
		expect: map[string]plannedRoute{}, held: map[heldKey]int{},
		enqueues: map[heldKey][]enqueueAt{}, enqueued: map[string]bool{}, synced: map[string]bool{}}
}

// chain observes the second dead-letter queue of a dead-letter chain too.
func (o *enqueueOracle) chain() { o.queues = append(o.queues, deadLetterChain) }

func (o *enqueueOracle) plan(id, exchange, key string) {
	o.expect[id] = plannedRoute{exchange, key}
}

func (o *enqueueOracle) sig(c *broker.Core, q string) queueSig {
	s, ok := c.Queue(q)
	if !ok {
		return queueSig{}
	}
	return queueSig{published: s.Published, deadLetterIn: s.DeadLetterIn, acked: s.Acked, deadLettered: s.DeadLettered,
		discarded: s.Discarded, held: s.Ready + s.Unacked, ok: true}
}

// heldNow is the multiset of copies the core holds in the observed queues.
func (o *enqueueOracle) heldNow(c *broker.Core) map[heldKey]int {
	now := make(map[heldKey]int, len(o.held)+8)
	for _, m := range c.Held() {
		if tenantQueue(m.Queue) {
			continue
		}
		now[heldKey{m.Queue, m.MessageID}]++
	}
	return now
}

// started takes a new incarnation's first state: what a durable broker
// restored, which must have been enqueued before.
func (o *enqueueOracle) started(c *broker.Core, inc uint64, t VTime) {
	o.inc = inc
	o.sigs = o.sigs[:0]
	for _, q := range o.queues {
		o.sigs = append(o.sigs, o.sig(c, q))
	}
	o.held = o.heldNow(c)
	for _, k := range sortedKeys(o.held) {
		if isDeadLetterQueue(k.queue) {
			if !o.enqueued[k.id] {
				o.misrouted = append(o.misrouted, fmt.Sprintf("%s@%s restored at %v, but never enqueued anywhere", k.id, k.queue, at(t)))
			}
			continue
		}
		if len(o.enqueues[k]) == 0 {
			o.misrouted = append(o.misrouted, fmt.Sprintf("%s@%s restored at %v (incarnation %d), but never enqueued there", k.id, k.queue, at(t), inc))
		}
	}
}

// crashed forgets what was never fsynced.
func (o *enqueueOracle) crashed() { o.unsynced = o.unsynced[:0] }

// persisted notes the publish records of one EffectPersist.
func (o *enqueueOracle) persisted(seq uint64, recs []wal.Record) {
	for _, r := range recs {
		if r.Type == wal.RecPublish {
			o.unsynced = append(o.unsynced, persistedID{seq, r.MessageID})
		}
	}
}

// fsynced makes every record up to token durable.
func (o *enqueueOracle) fsynced(token uint64) {
	o.unsynced = slices.DeleteFunc(o.unsynced, func(p persistedID) bool {
		if p.seq <= token {
			o.synced[p.id] = true
			return true
		}
		return false
	})
}

// step compares the core after one broker step with the last.
func (o *enqueueOracle) step(c *broker.Core, t VTime) {
	changed := false
	published := make([]uint64, len(o.queues))
	left := make([]uint64, len(o.queues))
	for i, q := range o.queues {
		s := o.sig(c, q)
		if s != o.sigs[i] {
			changed = true
		}
		published[i] = s.published - o.sigs[i].published
		if isDeadLetterQueue(q) {
			published[i] = s.deadLetterIn - o.sigs[i].deadLetterIn
		}
		left[i] = s.acked - o.sigs[i].acked + s.deadLettered - o.sigs[i].deadLettered + s.discarded - o.sigs[i].discarded
		o.sigs[i] = s
	}
	if !changed {
		return
	}
	o.steps++
	now := o.heldNow(c)
	before := o.held
	o.held = now
	added := map[string]int{} // per queue
	grown := map[heldKey]int{}
	for k, n := range now {
		if d := n - before[k]; d > 0 {
			added[k.queue] += d
			grown[k] = d
		}
	}
	removed := map[string]int{} // per queue: copies that visibly left
	for k, n := range before {
		if d := n - now[k]; d > 0 {
			removed[k.queue] += d
		}
	}
	var newKeys []heldKey // in a fixed order: the findings must replay
	for _, k := range sortedKeys(grown) {
		for range grown[k] {
			newKeys = append(newKeys, k)
		}
	}
	for i, q := range o.queues {
		// A copy of an id may leave a queue in the same step as another
		// copy of that id enters it: a Multiple ack settles a dead letter
		// of id X while a reject of X's copy in another queue dead-letters
		// that one (seed 573 with app rejects). The multiset of held copies
		// does not change for X, so the entry is hidden. Hidden entries are
		// accepted only when the counters pair each with a hidden exit: as
		// many copies left without a visible decrease as entered without a
		// visible increase. (A hidden dead letter's source is not checked.)
		hidden := int64(published[i]) - int64(added[q])
		if hidden > 0 && hidden == int64(left[i])-int64(removed[q]) {
			continue
		}
		if uint64(added[q]) != published[i] {
			what := "enqueued"
			if isDeadLetterQueue(q) {
				what = "dead-lettered into"
			}
			o.misrouted = append(o.misrouted, fmt.Sprintf("at %v the core counts %d messages %s %s, but %d new copies appeared there", at(t), published[i], what, q, added[q]))
		}
	}
	// Group this step's enqueues by id: one publish fills all its targets
	// in one step.
	byID := map[string][]string{}
	var ids []string
	for _, k := range newKeys {
		if isDeadLetterQueue(k.queue) {
			o.deadLetter(k, before, now, t)
			continue
		}
		if _, ok := byID[k.id]; !ok {
			ids = append(ids, k.id)
		}
		byID[k.id] = append(byID[k.id], k.queue)
		o.enqueue(k, t)
	}
	for _, id := range ids {
		o.route(id, byID[id], t)
	}
}

func (o *enqueueOracle) enqueue(k heldKey, t VTime) {
	o.enqueued[k.id] = true
	prior := o.enqueues[k]
	o.enqueues[k] = append(prior, enqueueAt{inc: o.inc, at: t})
	for _, p := range prior {
		switch {
		case p.inc == o.inc:
			o.enqueuedAgain = append(o.enqueuedAgain, fmt.Sprintf("%s@%s enqueued again at %v: first at %v, same broker incarnation %d", k.id, k.queue, at(t), at(p.at), o.inc))
			return
		case o.durable && o.synced[k.id] && time.Duration(t-p.at) < o.window:
			o.enqueuedAgain = append(o.enqueuedAgain, fmt.Sprintf("%s@%s enqueued again at %v (incarnation %d): first at %v (incarnation %d), whose dedup record was fsynced before the crash", k.id, k.queue, at(t), o.inc, at(p.at), p.inc))
			return
		}
	}
	if len(prior) > 0 {
		o.resent++
	}
}

// route judges the queues one step enqueued id into.
func (o *enqueueOracle) route(id string, got []string, t VTime) {
	r, ok := o.expect[id]
	if !ok {
		o.misrouted = append(o.misrouted, fmt.Sprintf("%s enqueued in %s at %v, but no honest publisher published it", id, strings.Join(got, ","), at(t)))
		return
	}
	want := o.model.route(r.exchange, r.key)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		o.misrouted = append(o.misrouted, fmt.Sprintf("%s (exchange %s, key %q) enqueued in [%s] at %v; the model routes it to [%s]",
			id, r.exchange, r.key, strings.Join(got, " "), at(t), strings.Join(want, " ")))
	}
}

// deadLetter judges one copy that appeared in a dead-letter queue: some
// other queue (an ordinary one, or the first dead-letter queue of a
// chain) must have let go of that id in the same step.
func (o *enqueueOracle) deadLetter(k heldKey, before, now map[heldKey]int, t VTime) {
	for _, q := range o.queues {
		if q == k.queue {
			continue
		}
		if h := (heldKey{q, k.id}); before[h] > now[h] {
			return
		}
	}
	o.misrouted = append(o.misrouted, fmt.Sprintf("%s appeared in %s at %v, but no queue let it go in that step", k.id, k.queue, at(t)))
}

// confirmed judges a publish its publisher saw confirmed: it must have been
// enqueued (in the queues route checked).
func (o *enqueueOracle) confirmed(id string) {
	if o.enqueued[id] {
		return
	}
	r := o.expect[id]
	o.misrouted = append(o.misrouted, fmt.Sprintf("%s (exchange %s, key %q) was confirmed but never enqueued; the model routes it to [%s]",
		id, r.exchange, r.key, strings.Join(o.model.route(r.exchange, r.key), " ")))
}

func sortedKeys(m map[heldKey]int) []heldKey {
	ks := make([]heldKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b heldKey) int {
		if c := strings.Compare(a.queue, b.queue); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return ks
}

// count is the number of enqueues seen so far.
func (o *enqueueOracle) count() uint64 {
	var n uint64
	for _, e := range o.enqueues {
		n += uint64(len(e))
	}
	return n
}
