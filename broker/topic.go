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

// match adds every queue whose pattern matches key to r.
func (t *topicTrie) match(key []byte, r *router) {
	start := 0
	if len(key) == 0 {
		start = 1 // zero words: start past the end
	}
	t.root.match(key, start, r)
}

// match matches the words of key that begin at byte offset i; i ==
// len(key)+1 means no words are left.
func (n *topicNode) match(key []byte, i int, r *router) {
	end := len(key) + 1
	if i >= end {
		for _, q := range n.queues {
			r.add(q)
		}
		if n.hash != nil {
			n.hash.match(key, end, r) // "#" matching zero words
		}
		return
	}
	j := i
	for j < len(key) && key[j] != '.' {
		j++
	}
	next := j + 1 // == end when this is the last word
	if n.words != nil {
		if c := n.words[string(key[i:j])]; c != nil {
			c.match(key, next, r)
		}
	}
	if n.star != nil {
		n.star.match(key, next, r)
	}
	if n.hash != nil {
		// "#" swallows the words [i, k) for every k from i to the end.
		for k := i; ; {
			n.hash.match(key, k, r)
			if k >= end {
				break
			}
			for k < len(key) && key[k] != '.' {
				k++
			}
			k++
		}
	}
}

func indexQueue(qs []*queue, q *queue) int {
	for i, x := range qs {
		if x == q {
			return i
		}
	}
	return -1
}
