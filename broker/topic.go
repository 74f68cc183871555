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
	// size is the number of nodes of the subtree rooted here (itself
	// included); cost bounds the states one match visits in this subtree
	// when the node is entered once (see recompute); wmax is the largest
	// cost among the literal children. All three are kept at bind time.
	size, cost, wmax int
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
//
// NormalizeTopicPattern is topicPattern for code outside the core (the
// simulator counts the trie nodes a set of bindings makes).
func NormalizeTopicPattern(key string) []string { return topicPattern(key) }

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

// topicPositions is the most word positions a match goes through: a key
// of at most MaxRoutingKeyLen bytes has at most 128 words, and the state
// set exists before the first word and after each.
const topicPositions = (MaxRoutingKeyLen+1)/2 + 1

// MaxTopicStates bounds, per topic exchange, the states one publish's
// match may visit whatever its routing key (the trie's cost, kept at bind
// time); a binding that would raise the bound above it is refused with
// CodeInvalidArgument. A single pattern never reaches it (at most
// topicPositions × 129 = 16,641); many distinct patterns mixing literals
// and "*" below a "#" do, since each of their nodes may be active at every
// word. Measured at 30–200 ns per state, the limit keeps a match at a few
// milliseconds at worst.
const MaxTopicStates = 1 << 15

// recompute derives n.cost from its children's. A node entered once is
// one state, plus the subtrees it leads to: at most one literal child's
// (one word is read), the "*" child's and the "#" child's. A "#" node
// stays active at every later position, so it pays that at each of
// topicPositions positions. And no subtree is ever worse than each of its
// nodes at every position, which caps nested "#".
func (n *topicNode) recompute() {
	base := 1 + n.wmax
	if n.star != nil {
		base += n.star.cost
	}
	if n.hash != nil {
		base += n.hash.cost
	}
	if n.isHash {
		base *= topicPositions
	}
	n.cost = min(base, topicPositions*n.size)
}

// cost bounds the states that matching any routing key can visit.
func (t *topicTrie) cost() int { return t.root.cost }

func isLiteral(w string) bool { return w != "*" && w != "#" }

// insert adds one binding of q with the pattern key.
func (t *topicTrie) insert(key string, q *queue) {
	words := topicPattern(key)
	path := make([]*topicNode, 1, len(words)+1)
	path[0] = &t.root
	if t.root.size == 0 {
		t.root.size = 1
	}
	created := -1 // index in path of the first node created
	n := &t.root
	for _, w := range words {
		c := n.child(w, false)
		if c == nil {
			c = n.child(w, true)
			if created < 0 {
				created = len(path)
			}
		}
		n = c
		path = append(path, n)
	}
	n.queues = append(n.queues, q)
	for d := len(path) - 1; d >= 0; d-- {
		node := path[d]
		switch {
		case created < 0:
		case d < created:
			node.size += len(path) - created
		default:
			node.size = len(path) - d
		}
		if d < len(path)-1 && isLiteral(words[d]) {
			node.wmax = max(node.wmax, path[d+1].cost)
		}
		node.recompute()
	}
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
	// Prune from the leaf up while nodes hold nothing; path[cut:] go.
	cut := len(path)
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
		cut = d
	}
	// Sizes and costs of what is left, from the leaf up. prevOld and
	// prevNew are the cost of the path child before and after.
	prevOld, prevNew := 0, 0
	for d := len(path) - 1; d >= 0; d-- {
		node := path[d]
		if d >= cut {
			prevOld, prevNew = node.cost, 0
			continue
		}
		node.size -= len(path) - cut
		if d < len(path)-1 && isLiteral(words[d]) {
			if prevNew < prevOld && prevOld == node.wmax {
				node.wmax = 0 // that child may have been the largest: rescan
				for _, c := range node.words {
					node.wmax = max(node.wmax, c.cost)
				}
			}
		}
		old := node.cost
		node.recompute()
		prevOld, prevNew = old, node.cost
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
