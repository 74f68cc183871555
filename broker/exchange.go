package broker

import (
	"slices"
	"strings"
)

// exchange routes publishes to queues through its bindings.
type exchange struct {
	name  string
	typ   ExchangeType
	owner string // the user who declared it

	// bindings is the authoritative set of (queue, key) pairs; the routing
	// structures below are indexes over it.
	bindings map[bindingKey]string // value: the user who made the binding
	direct   map[string][]*queue   // Direct: key → its queues in name order
	fanout   []*queue              // Fanout: one entry per binding, in name order
	topic    topicTrie             // Topic

	durable    bool   // written to the durable log (a durable queue was bound to it)
	published  uint64 // accepted (non-duplicate) publishes
	unroutable uint64 // publishes refused with CodeNoRoute
}

type bindingKey struct {
	q   *queue
	key string
}

func newExchange(name string, typ ExchangeType) *exchange {
	ex := &exchange{name: name, typ: typ, bindings: make(map[bindingKey]string)}
	if typ == Direct {
		ex.direct = make(map[string][]*queue)
	}
	return ex
}

// bind adds (q, key) made by owner; it reports false if the binding
// already existed.
func (ex *exchange) bind(q *queue, key, owner string) bool {
	bk := bindingKey{q, key}
	if _, ok := ex.bindings[bk]; ok {
		return false
	}
	ex.bindings[bk] = owner
	switch ex.typ {
	case Direct:
		ex.direct[key] = insertQueue(ex.direct[key], q)
	case Fanout:
		ex.fanout = insertQueue(ex.fanout, q)
	case Topic:
		ex.topic.insert(key, q)
	default:
		panic("broker: exchange " + ex.name + " has invalid type " + ex.typ.String())
	}
	q.bindings[exchangeBinding{ex, key}] = struct{}{}
	return true
}

// unbind removes (q, key); it reports false if there was no such binding.
func (ex *exchange) unbind(q *queue, key string) bool {
	bk := bindingKey{q, key}
	if _, ok := ex.bindings[bk]; !ok {
		return false
	}
	delete(ex.bindings, bk)
	delete(q.bindings, exchangeBinding{ex, key})
	switch ex.typ {
	case Direct:
		qs := removeQueue(ex.direct[key], q)
		if len(qs) == 0 {
			delete(ex.direct, key)
		} else {
			ex.direct[key] = qs
		}
	case Fanout:
		ex.fanout = removeQueue(ex.fanout, q)
	case Topic:
		if !ex.topic.remove(key, q) {
			panic("broker: topic binding " + key + " of exchange " + ex.name + " missing from its trie")
		}
	}
	return true
}

// route adds every queue the routing key reaches to r, each queue once, in
// queue name order (the order in which a publish stores and dispatches its
// copies). r must have been reset.
//
// Direct and fanout target lists are kept in name order when bindings are
// made, so routing costs one step per binding it follows and never sorts.
// A topic match collects the queues of the patterns that matched and sorts
// those alone: O(m log m) for the m queues this publish reaches, bounded by
// the publish's own fan-out whatever the number of bindings.
func (ex *exchange) route(key []byte, r *router) {
	switch ex.typ {
	case Direct:
		for _, q := range ex.direct[string(key)] {
			r.add(q)
		}
	case Fanout:
		// A queue bound several times (with different keys) has adjacent
		// entries; the router keeps the first.
		for _, q := range ex.fanout {
			r.add(q)
		}
	case Topic:
		ex.topic.match(key, r)
		if len(r.targets) > 1 {
			slices.SortFunc(r.targets, compareQueueNames)
		}
	}
}

func compareQueueNames(a, b *queue) int { return strings.Compare(a.name, b.name) }

// insertQueue inserts q into qs, which is in name order, keeping the order:
// a binary search and one memmove per binding, a rare topology command.
// Live queues have distinct names, so entries with q's name are q's.
func insertQueue(qs []*queue, q *queue) []*queue {
	i, _ := slices.BinarySearchFunc(qs, q, compareQueueNames)
	return slices.Insert(qs, i, q)
}

// removeQueue removes one entry of q from qs, which is in name order,
// keeping the order of the others (routing order is part of the
// deterministic effect order).
func removeQueue(qs []*queue, q *queue) []*queue {
	i, found := slices.BinarySearchFunc(qs, q, compareQueueNames)
	if !found || qs[i] != q {
		panic("broker: binding index out of sync with the binding set")
	}
	copy(qs[i:], qs[i+1:])
	qs[len(qs)-1] = nil
	return qs[:len(qs)-1]
}

// router collects the target queues of one publish, each queue once even
// when several bindings lead to it (a mark per queue: O(1) per match, no
// set to allocate).
type router struct {
	targets []*queue
	epoch   uint64
	walk    topicWalk // topic matching state, reused
}

func (r *router) reset() {
	clear(r.targets)
	r.targets = r.targets[:0]
	r.epoch++
}

func (r *router) add(q *queue) {
	if q.routeMark != r.epoch {
		q.routeMark = r.epoch
		r.targets = append(r.targets, q)
	}
}
