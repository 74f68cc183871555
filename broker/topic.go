package broker

import "strings"

// topicTrie matches routing keys against topic binding patterns without
// regular expressions (as nats-server's sublist does for subjects).
//
// Words are separated by "."; the empty key has zero words, "a..b" has the
// three words "a", "" and "b". In a pattern "*" matches exactly one word
// (possibly empty) and "#" matches zero or more words. Consecutive "#"
// words are collapsed when a pattern is inserted ("#.#" means "#"), which
// keeps matching polynomial instead of exponential in the number of "#".
type topicTrie struct {
	root topicNode
}

type topicNode struct {
	words map[string]*topicNode // literal next words
	star  *topicNode            // "*"
	hash  *topicNode            // "#"
	// queues bound with a pattern that ends at this node. A queue appears
	// once per binding, so two patterns that normalise to the same path
	// (e.g. "#" and "#.#") each hold an entry.
	queues []*queue
}

// topicPattern splits a binding key into pattern words and collapses runs
// of "#".
func topicPattern(key string) []string {
	if key == "" {
		return nil
	}
	words := strings.Split(key, ".")
	out := words[:0]
	for _, w := range words {
		if w == "#" && len(out) > 0 && out[len(out)-1] == "#" {
			continue
		}
		out = append(out, w)
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
		*slot = &topicNode{}
	}
	return *slot
}

// topicStepBudget bounds the node visits of a plain trie walk. Patterns
// with several "#" can make a walk revisit the same (node, word) pair many
// times (a.#.b.#.c.# against a long key of a's and b's); past the budget
// the walk restarts with memoisation, which bounds it by nodes x words.
const topicStepBudget = 4096

// topicWalk is the per-match state: the step count of the plain walk, or
// the visited set of the memoised one.
type topicWalk struct {
	r      *router
	steps  int
	budget int
	memo   map[topicVisit]uint64 // visit → walk epoch; reused across calls
	epoch  uint64
	memoOn bool
}

type topicVisit struct {
	n *topicNode
	i int
}

// match adds every queue whose pattern matches key to r.
func (t *topicTrie) match(key []byte, r *router) {
	start := 0
	if len(key) == 0 {
		start = 1 // zero words: start past the end
	}
	w := &r.walk
	w.r, w.steps, w.memoOn = r, 0, false
	if w.budget == 0 {
		w.budget = topicStepBudget
	}
	if t.root.match(key, start, w) {
		return
	}
	// Too many steps: redo the walk memoised. Queues found so far stay in
	// r (the router ignores repeats).
	w.memoOn = true
	w.epoch++
	if w.memo == nil || len(w.memo) > 1<<16 {
		w.memo = make(map[topicVisit]uint64)
	}
	t.root.match(key, start, w)
}

// match matches the words of key that begin at byte offset i; i ==
// len(key)+1 means no words are left. It returns false when the plain walk
// ran out of budget.
func (n *topicNode) match(key []byte, i int, w *topicWalk) bool {
	if w.memoOn {
		v := topicVisit{n, i}
		if w.memo[v] == w.epoch {
			return true // this node at this word was fully explored already
		}
		w.memo[v] = w.epoch
	} else if w.steps++; w.steps > w.budget {
		return false
	}
	end := len(key) + 1
	if i >= end {
		for _, q := range n.queues {
			w.r.add(q)
		}
		if n.hash != nil {
			return n.hash.match(key, end, w) // "#" matching zero words
		}
		return true
	}
	j := i
	for j < len(key) && key[j] != '.' {
		j++
	}
	next := j + 1 // == end when this is the last word
	if n.words != nil {
		if c := n.words[string(key[i:j])]; c != nil && !c.match(key, next, w) {
			return false
		}
	}
	if n.star != nil && !n.star.match(key, next, w) {
		return false
	}
	if n.hash != nil {
		// "#" swallows the words [i, k) for every k from i to the end.
		for k := i; ; {
			if !n.hash.match(key, k, w) {
				return false
			}
			if k >= end {
				break
			}
			for k < len(key) && key[k] != '.' {
				k++
			}
			k++
		}
	}
	return true
}

func indexQueue(qs []*queue, q *queue) int {
	for i, x := range qs {
		if x == q {
			return i
		}
	}
	return -1
}
