package sim

import (
	"strconv"

	"github.com/ciphermq/ciphermq/broker"
)

// The simulated topology. Every receiver i owns queue "q<i>" (one consumer
// per queue, so exactly-once is judged per queue and order could be); three
// exchanges, one of each type, route into them:
//
//	direct  key "q<i>"            -> q<i>
//	fanout  any key               -> every queue
//	topic   "t.q<i>.*"            -> q<i>
//	        "t.all.#"             -> every queue
//
// A fourth exchange, "tg" (topic), carries bindings drawn per seed from a
// pattern grammar (config.go, drawConfig): wildcards at every position,
// several bindings per queue. Dead letters of every queue go to "dlq",
// drained by every receiver (so a receiver cut off for ever does not strand
// them). The simulator computes the expected targets of each publish from
// its reference model of this table (refmodel.go, the routing oracle) and
// never asks the core.
const (
	exDirect        = "direct"
	exFanout        = "fanout"
	exTopic         = "topic"
	exGrammar       = "tg"
	deadLetterQueue = "dlq"
	// deadLetterChain is where the dead-letter queue's own dead letters go
	// in runs that draw a dead-letter chain (ackDraw.chain): queue -> dlq
	// -> dlq2, both drained by every receiver.
	deadLetterChain = "dlq2"
	// unroutableKey is published now and then on the direct exchange to
	// exercise refusals (CodeNoRoute): an explicit NACK, never a silent drop.
	unroutableKey = "nowhere"
)

type topology struct {
	queues []string
	opts   broker.QueueOptions
	model  *refModel
	binds  []bindDecl
	// grammar lists the patterns bound on exGrammar (the seed's draw), and
	// keys the routing keys publishes on it draw from.
	grammar []bindDecl
	keys    []string
	// chain: the dead-letter queue dead-letters into deadLetterChain.
	chain bool
}

// isDeadLetterQueue reports whether q is one of the dead-letter queues.
func isDeadLetterQueue(q string) bool { return q == deadLetterQueue || q == deadLetterChain }

// deadLetterQueues are the run's dead-letter queues, in chain order.
func (t topology) deadLetterQueues() []string {
	if t.chain {
		return []string{deadLetterQueue, deadLetterChain}
	}
	return []string{deadLetterQueue}
}

type bindDecl struct{ exchange, queue, key string }

func newTopology(receivers int, opts broker.QueueOptions, grammar []bindDecl, keys []string) topology {
	t := topology{opts: opts, model: newRefModel(), grammar: grammar, keys: keys}
	for i := 0; i < receivers; i++ {
		t.queues = append(t.queues, "q"+strconv.Itoa(i))
	}
	t.opts.DeadLetterQueue = deadLetterQueue
	t.model.declare(exDirect, broker.Direct)
	t.model.declare(exFanout, broker.Fanout)
	t.model.declare(exTopic, broker.Topic)
	t.model.declare(exGrammar, broker.Topic)
	for _, q := range t.queues {
		t.binds = append(t.binds, bindDecl{exDirect, q, q}, bindDecl{exFanout, q, ""},
			bindDecl{exTopic, q, "t." + q + ".*"}, bindDecl{exTopic, q, "t.all.#"})
	}
	t.binds = append(t.binds, grammar...)
	for _, b := range t.binds {
		t.model.bind(b.exchange, b.queue, b.key)
	}
	return t
}

// declare sets the topology up on a fresh core.
func (t topology) declare(c *broker.Core) error {
	// The dead-letter queue needs an ack timeout too: on a lossy link a
	// delivery from it can vanish while the connection lives on.
	dlq := broker.QueueOptions{AckTimeout: t.opts.AckTimeout, Durable: t.opts.Durable}
	if t.chain {
		if err := c.DeclareQueue(deadLetterChain, dlq); err != nil {
			return err
		}
		dlq.DeadLetterQueue = deadLetterChain
	}
	if err := c.DeclareQueue(deadLetterQueue, dlq); err != nil {
		return err
	}
	for _, ex := range []struct {
		name string
		typ  broker.ExchangeType
	}{{exDirect, broker.Direct}, {exFanout, broker.Fanout}, {exTopic, broker.Topic}, {exGrammar, broker.Topic}} {
		if err := c.DeclareExchange(ex.name, ex.typ); err != nil {
			return err
		}
	}
	for _, q := range t.queues {
		if err := c.DeclareQueue(q, t.opts); err != nil {
			return err
		}
	}
	for _, b := range t.binds {
		if err := c.Bind(b.exchange, b.queue, b.key); err != nil {
			return err
		}
	}
	return nil
}

// pick draws an exchange and routing key and returns the queues the
// reference model routes them to.
func (t topology) pick(g *rng) (exchange, key string, queues []string) {
	n := len(t.queues)
	if len(t.keys) > 0 && g.chance(0.25) {
		exchange, key = exGrammar, t.keys[g.intn(len(t.keys))]
		return exchange, key, t.model.route(exchange, key)
	}
	switch g.intn(3) {
	case 0:
		if g.chance(0.02) {
			exchange, key = exDirect, unroutableKey
		} else {
			exchange, key = exDirect, t.queues[g.intn(n)]
		}
	case 1:
		exchange, key = exFanout, "k"+strconv.Itoa(g.intn(10))
	default:
		if g.chance(0.3) {
			exchange, key = exTopic, "t.all.x"+strconv.Itoa(g.intn(3))
		} else {
			exchange, key = exTopic, "t."+t.queues[g.intn(n)]+".z"
		}
	}
	return exchange, key, t.model.route(exchange, key)
}
