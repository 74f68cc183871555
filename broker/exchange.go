package broker

// exchange routes publishes to queues through its bindings.
type exchange struct {
	name  string
	typ   ExchangeType
	owner string // the user who declared it

	// bindings is the authoritative set of (queue, key) pairs; the routing
	// structures below are indexes over it.
	bindings map[bindingKey]string // value: the user who made the binding
	direct   map[string][]*queue   // Direct: key → queues in bind order
	fanout   []*queue              // Fanout: one entry per binding
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
		ex.direct[key] = append(ex.direct[key], q)
	case Fanout:
		ex.fanout = append(ex.fanout, q)
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

// route adds every queue the routing key reaches to r, each queue once.
func (ex *exchange) route(key []byte, r *router) {
	switch ex.typ {
	case Direct:
		for _, q := range ex.direct[string(key)] {
			r.add(q)
		}
	case Fanout:
		for _, q := range ex.fanout {
			r.add(q)
		}
	case Topic:
		ex.topic.match(key, r)
	}
}

// removeQueue removes the first occurrence of q, keeping the order of the
// others (routing order is part of the deterministic effect order).
func removeQueue(qs []*queue, q *queue) []*queue {
	i := indexQueue(qs, q)
	if i < 0 {
		panic("broker: binding index out of sync with the binding set")
	}
	copy(qs[i:], qs[i+1:])
	qs[len(qs)-1] = nil
	return qs[:len(qs)-1]
}

// router collects the target queues of one publish, each queue once even
// when several bindings lead to it.
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
