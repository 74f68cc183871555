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
// Dead letters of every queue go to "dlq", drained by every receiver (so a
// receiver cut off for ever does not strand them). The
// simulator computes the expected targets of each publish from this table
// (its oracle) and never asks the core.
const (
	exDirect        = "direct"
	exFanout        = "fanout"
	exTopic         = "topic"
	deadLetterQueue = "dlq"
	// unroutableKey is published now and then on the direct exchange to
	// exercise refusals (CodeNoRoute): an explicit NACK, never a silent drop.
	unroutableKey = "nowhere"
)

type topology struct {
	queues []string
	opts   broker.QueueOptions
}

func newTopology(receivers int, opts broker.QueueOptions) topology {
	t := topology{opts: opts}
	for i := 0; i < receivers; i++ {
		t.queues = append(t.queues, "q"+strconv.Itoa(i))
	}
	t.opts.DeadLetterQueue = deadLetterQueue
	return t
}

// declare sets the topology up on a fresh core.
func (t topology) declare(c *broker.Core) error {
	// The dead-letter queue needs an ack timeout too: on a lossy link a
	// delivery from it can vanish while the connection lives on.
	if err := c.DeclareQueue(deadLetterQueue, broker.QueueOptions{AckTimeout: t.opts.AckTimeout, Durable: t.opts.Durable}); err != nil {
		return err
	}
	for _, ex := range []struct {
		name string
		typ  broker.ExchangeType
	}{{exDirect, broker.Direct}, {exFanout, broker.Fanout}, {exTopic, broker.Topic}} {
		if err := c.DeclareExchange(ex.name, ex.typ); err != nil {
			return err
		}
	}
	for _, q := range t.queues {
		steps := []func() error{
			func() error { return c.DeclareQueue(q, t.opts) },
			func() error { return c.Bind(exDirect, q, q) },
			func() error { return c.Bind(exFanout, q, "") },
			func() error { return c.Bind(exTopic, q, "t."+q+".*") },
			func() error { return c.Bind(exTopic, q, "t.all.#") },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
	}
	return nil
}

// pick draws an exchange and routing key and returns the queues the
// topology must route them to.
func (t topology) pick(g *rng) (exchange, key string, queues []string) {
	n := len(t.queues)
	switch g.intn(3) {
	case 0:
		if g.chance(0.02) {
			return exDirect, unroutableKey, nil
		}
		q := t.queues[g.intn(n)]
		return exDirect, q, []string{q}
	case 1:
		return exFanout, "k" + strconv.Itoa(g.intn(10)), append([]string(nil), t.queues...)
	default:
		if g.chance(0.3) {
			return exTopic, "t.all.x" + strconv.Itoa(g.intn(3)), append([]string(nil), t.queues...)
		}
		q := t.queues[g.intn(n)]
		return exTopic, "t." + q + ".z", []string{q}
	}
}
