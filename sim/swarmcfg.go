package sim

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// drawnConfig is the part of a run's configuration each seed draws for
// itself (the swarm over configuration, not only faults): the bindings of
// the grammar exchange and the routing keys published on it, and the
// durable log's segment size. It comes from a generator of its own, seeded
// from the run's seed, so it replays with the seed and does not shift the
// run's other draws when it changes.
type drawnConfig struct {
	grammar []bindDecl
	keys    []string
	// segmentSize is the durable log's segment size: small, so that
	// segments roll and compact in most durable runs.
	segmentSize int64
	// sessionMessages, when set, overrides every publisher's own draw of
	// its sealing session length (Workload.SessionMessages zero): short
	// sessions for a fifth of the seeds, so that more than a prefix window
	// of definitions reaches one consumer and the oldest is pushed out
	// (the "prefix-evicted" event) within every 100 seeds.
	sessionMessages int
}

// grammarWords are the literal words of patterns and keys: few, so
// drawn keys and patterns meet.
var grammarWords = []string{"a", "b", "c"}

func drawConfig(seed uint64, queues []string) drawnConfig {
	g := rand.New(rand.NewPCG(seed, 0xC0F16))
	var d drawnConfig
	// 2..8 bindings, each on a random queue: several bindings per queue
	// in most runs, some queues with none.
	for range 2 + g.IntN(7) {
		q := queues[g.IntN(len(queues))]
		d.grammar = append(d.grammar, bindDecl{exGrammar, q, drawPattern(g)})
	}
	// Keys: half instantiate a bound pattern (every "#" as zero, one or two
	// words, so zero-word matches happen), half are drawn freely (so near
	// misses happen too).
	for range 6 + g.IntN(7) {
		var k string
		if g.IntN(2) == 0 {
			k = instantiate(g, d.grammar[g.IntN(len(d.grammar))].key)
		} else {
			k = drawKey(g)
		}
		if !slices.Contains(d.keys, k) {
			d.keys = append(d.keys, k)
		}
	}
	d.segmentSize = int64(16<<10) << g.IntN(3) // 16, 32 or 64 KiB
	if g.IntN(5) == 0 {
		d.sessionMessages = 2 + g.IntN(3)
	}
	return d
}

// drawPattern draws a topic pattern of 1..5 words: literals, "*" and "#"
// at any position, so leading, trailing, repeated ("#.#") and mixed
// ("#.*", "*.#") wildcards all occur.
func drawPattern(g *rand.Rand) string {
	n := 1 + g.IntN(5)
	words := make([]string, n)
	for i := range words {
		switch r := g.IntN(10); {
		case r < 3:
			words[i] = "#"
		case r < 6:
			words[i] = "*"
		default:
			words[i] = grammarWords[g.IntN(len(grammarWords))]
		}
	}
	return strings.Join(words, ".")
}

// instantiate draws a key the pattern matches: "*" becomes one word, "#"
// zero, one or two words. A key must have a word: an all-"#" pattern
// instantiated to nothing becomes "a".
func instantiate(g *rand.Rand, pattern string) string {
	var out []string
	for _, w := range strings.Split(pattern, ".") {
		switch w {
		case "*":
			out = append(out, grammarWords[g.IntN(len(grammarWords))])
		case "#":
			for range g.IntN(3) {
				out = append(out, grammarWords[g.IntN(len(grammarWords))])
			}
		default:
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return "a"
	}
	return strings.Join(out, ".")
}

// drawKey draws a key of 1..4 literal words.
func drawKey(g *rand.Rand) string {
	words := make([]string, 1+g.IntN(4))
	for i := range words {
		words[i] = grammarWords[g.IntN(len(grammarWords))]
	}
	return strings.Join(words, ".")
}

// describe lists the grammar bindings and keys for the trace and reports.
func (d drawnConfig) describe() string {
	var b strings.Builder
	for i, x := range d.grammar {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x.queue + "<-" + x.key)
	}
	b.WriteString(" keys=" + strings.Join(d.keys, ","))
	return b.String()
}
