package sim

import (
	"slices"
	"strings"

	"github.com/ciphermq/ciphermq/broker"
)

// refModel is the simulator's reference model of exchanges and bindings:
// the routing oracle's notion of where a publish must go. It shares no
// code with the core's router (no trie, no normalisation of patterns):
// topic patterns are matched word by word with a plain recursive matcher,
// so a bug in the core's matcher cannot hide behind the same bug here.
type refModel struct {
	exchanges map[string]*refExchange
}

type refExchange struct {
	kind     broker.ExchangeType
	bindings []refBinding
}

type refBinding struct{ queue, key string }

func newRefModel() *refModel { return &refModel{exchanges: map[string]*refExchange{}} }

func (m *refModel) declare(name string, kind broker.ExchangeType) {
	if m.exchanges[name] == nil {
		m.exchanges[name] = &refExchange{kind: kind}
	}
}

// bind adds a binding; binding twice is a no-op, as in the core.
func (m *refModel) bind(exchange, queue, key string) {
	ex := m.exchanges[exchange]
	b := refBinding{queue: queue, key: key}
	if ex.kind == broker.Fanout {
		b.key = "" // a fanout exchange ignores keys
	}
	if !slices.Contains(ex.bindings, b) {
		ex.bindings = append(ex.bindings, b)
	}
}

// route returns the queues a publish to exchange with key must be
// enqueued in, sorted, each once; nil for an unknown exchange or no match.
func (m *refModel) route(exchange, key string) []string {
	ex := m.exchanges[exchange]
	if ex == nil {
		return nil
	}
	var out []string
	for _, b := range ex.bindings {
		ok := false
		switch ex.kind {
		case broker.Fanout:
			ok = true
		case broker.Direct:
			ok = b.key == key
		case broker.Topic:
			ok = topicMatch(strings.Split(b.key, "."), strings.Split(key, "."))
		}
		if ok && !slices.Contains(out, b.queue) {
			out = append(out, b.queue)
		}
	}
	slices.Sort(out)
	return out
}

// topicMatch is AMQP's topic rule, written as its definition: "*" matches
// exactly one word, "#" zero or more words, any other word itself.
func topicMatch(pat, key []string) bool {
	if len(pat) == 0 {
		return len(key) == 0
	}
	switch pat[0] {
	case "#":
		for skip := 0; skip <= len(key); skip++ {
			if topicMatch(pat[1:], key[skip:]) {
				return true
			}
		}
		return false
	case "*":
		return len(key) > 0 && topicMatch(pat[1:], key[1:])
	default:
		return len(key) > 0 && key[0] == pat[0] && topicMatch(pat[1:], key[1:])
	}
}
