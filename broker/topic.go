package broker

import "strings"

// topicTrie matches routing keys against topic binding patterns without
// regular expressions.
//
// Words are separated by "."; the empty key has zero words, "a..b" has the
// three words "a", "" and "b". In a pattern "*" matches exactly one word
// (possibly empty) and "#" matches zero or more words.
//
// Matching simulates the trie as a nondeterministic automaton: it keeps the
// set of nodes whose pattern prefix matches the words read so far and
// advances that whole set one key word at a time. A node enters a set at
// most once (an epoch stamp per node deduplicates, so nothing is allocated
// and nothing grows across publishes), hence one match visits at most
// (words+1) × (trie nodes) states, whatever the shape of the patterns:
// there is no backtracking to explode. Patterns are also normalised at bind
// time (see topicPattern), which keeps adversarial shapes such as
// "#.*.#.*.…" down to one node per word and one "#" node per run.
type topicTrie struct {
	root  topicNode
	epoch uint64 // stamp of the state set being built; see topicNode.mark
}

type topicNode struct {
	words map[string]*topicNode // literal next words
	star  *topicNode            // "*"
	hash  *topicNode            // "#"
	// isHash is set on the node a "#" leads to: that node stays active
	// while its "#" swallows further words.
	isHash bool
	// mark is the trie epoch of the last state set this node entered.
	mark uint64
	// queues bound with a pattern that ends at this node. A queue appears
	// once per binding, so two patterns that normalise to the same path
	// (e.g. "#" and "#.#") each hold an entry.
	queues []*queue
}

// topicPattern splits a binding key into pattern words and normalises every
// run of wildcards (consecutive "*" and "#" words with no literal between
// them) to its stars followed by a single "#" if the run had any: "#.#"
// becomes "#", and "#.*.#.*" becomes "*.*.#". This keeps the meaning
// exactly: such a run matches a stretch of n words iff n equals its number
// of stars (no "#") or is at least that number (some "#"), which depends
// neither on the order of its words nor on how many "#" it has.
func topicPattern(key string) []string {
	if key == "" {
		return nil
	}
	words := strings.Split(key, ".")
	out := words[:0]
	for i := 0; i < len(words); {
		w := words[i]
		if w != "*" && w != "#" {
			out = append(out, w)
			i++
			continue
		}
		stars, hash := 0, false
		for ; i < len(words) && (words[i] == "*" || words[i] == "#"); i++ {
			if words[i] == "*" {
				stars++
			} else {
				hash = true
			}
		}
		// The run is written where it was read or earlier, and is never
		// longer than it was: rewriting in place overwrites no unread word.
		for ; stars > 0; stars-- {
			out = append(out, "*")
		}
		if hash {
			out = append(out, "#")
		}
	}
	return out
}

// insert adds one binding of q with the pattern key.
func (t *topicTrie) insert(key string, q *queue) {
	n := &t.root
	for _, w := range topicPattern(key) {
		n = n.child(w, true)
	}
	n.queues = append(n.queues, q)
}

// remove deletes one binding of q with the pattern key and prunes nodes that
// became empty. It reports whether the binding existed.
func (t *topicTrie) remove(key string, q *queue) bool {
	words := topicPattern(key)
	path := make([]*topicNode, 0, len(words)+1)
	n := &t.root
	path = append(path, n)
	for _, w := range words {
		n = n.child(w, false)
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	i := indexQueue(n.queues, q)
	if i < 0 {
		return false
	}
	n.queues = append(n.queues[:i], n.queues[i+1:]...)
	// Prune from the leaf up while nodes hold nothing.
	for d := len(path) - 1; d > 0; d-- {
		node := path[d]
		if !node.empty() {
			break
		}
		parent := path[d-1]
		switch w := words[d-1]; w {
		case "*":
			parent.star = nil
		case "#":
			parent.hash = nil
		default:
			delete(parent.words, w)
		}
	}
	return true
}

func (n *topicNode) empty() bool {
	return len(n.queues) == 0 && len(n.words) == 0 && n.star == nil && n.hash == nil
}

// child returns the child for pattern word w, creating it if create is set.
func (n *topicNode) child(w string, create bool) *topicNode {
	var slot **topicNode
	switch w {
	case "*":
		slot = &n.star
	case "#":
		slot = &n.hash
	default:
		if c := n.words[w]; c != nil || !create {
			return c
		}
		if n.words == nil {
			n.words = make(map[string]*topicNode)
		}
		c := &topicNode{}
		n.words[w] = c
		return c
	}
	if *slot == nil && create {
		*slot = &topicNode{isHash: w == "#"}
	}
	return *slot
}

// topicWalk is the reusable scratch state of one match: the current and
// the next state set, and the number of states the last match visited (a
// work counter for tests: see TestTopicHostileBindingsBoundedWork).
type topicWalk struct {
	cur, next []*topicNode
	visits    int
}

// match adds every queue whose pattern matches key to r. It visits each
// (node, word position) pair at most once: at most (words+1) × nodes
// states, each costing one map lookup and a constant number of set
// insertions.
func (t *topicTrie) match(key []byte, r *router) {
	w := &r.walk
	w.visits = 0
	t.epoch++
	cur := t.enter(w.cur[:0], &t.root)
	next := w.next[:0]
	for i := 0; len(key) > 0 && len(cur) > 0; {
		j := i
		for j < len(key) && key[j] != '.' {
			j++
		}
		word := key[i:j]
		t.epoch++
		for _, n := range cur {
			w.visits++
			if n.isHash {
				next = t.enter(next, n) // "#" swallows this word too
			}
			if n.words != nil {
				if c := n.words[string(word)]; c != nil {
					next = t.enter(next, c)
				}
			}
			if n.star != nil {
				next = t.enter(next, n.star)
			}
		}
		clear(cur)
		cur, next = next, cur[:0]
		if j == len(key) {
			break
		}
		i = j + 1
	}
	for _, n := range cur {
		w.visits++
		for _, q := range n.queues {
			r.add(q)
		}
	}
	// Keep no pointers into the trie: a pruned node must be collectable.
	clear(cur)
	w.cur, w.next = cur[:0], next[:0]
}

// enter adds n to the state set being built (epoch t.epoch) unless it is
// there already, and with it the node of a "#" that follows n, since "#"
// may match zero words.
func (t *topicTrie) enter(set []*topicNode, n *topicNode) []*topicNode {
	for n != nil && n.mark != t.epoch {
		n.mark = t.epoch
		set = append(set, n)
		n = n.hash
	}
	return set
}

func indexQueue(qs []*queue, q *queue) int {
	for i, x := range qs {
		if x == q {
			return i
		}
	}
	return -1
}
