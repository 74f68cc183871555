package broker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// refTopicMatch is the reference matcher of the differential tests: a
// dynamic program over (pattern words used, key words used), independent of
// the trie. ok[i][j] reports whether pattern[i:] matches key[j:].
func refTopicMatch(pattern, key []string) bool {
	ok := make([][]bool, len(pattern)+1)
	for i := range ok {
		ok[i] = make([]bool, len(key)+1)
	}
	ok[len(pattern)][len(key)] = true
	for i := len(pattern) - 1; i >= 0; i-- {
		for j := len(key); j >= 0; j-- {
			switch pattern[i] {
			case "#":
				// zero words, or one word and stay on "#"
				ok[i][j] = ok[i+1][j] || (j < len(key) && ok[i][j+1])
			case "*":
				ok[i][j] = j < len(key) && ok[i+1][j+1]
			default:
				ok[i][j] = j < len(key) && key[j] == pattern[i] && ok[i+1][j+1]
			}
		}
	}
	return ok[0][0]
}

// hostilePattern is binding i of the hostile topology: 62 wildcard pairs,
// each "#.*" or "*.#" (the order drawn from i and the pair's position, so
// that distinct bindings share no long prefix unless the trie normalises
// them), then the literal "k<i in base 36>". 248 + up to 5 bytes: at most
// 253 bytes, close to the 255-byte limit.
func hostilePattern(i int) string {
	var b strings.Builder
	for j := 0; j < 62; j++ {
		h := uint64(i)<<32 | uint64(j) // a fixed mix (murmur3's finaliser)
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
		h *= 0xc4ceb9fe1a85ec53
		h ^= h >> 33
		if i == 0 || h&1 == 0 {
			b.WriteString("#.*.")
		} else {
			b.WriteString("*.#.")
		}
	}
	b.WriteString(hostileLiteral(i))
	return b.String()
}

func hostileLiteral(i int) string { return "k" + strconv.FormatInt(int64(i), 36) }

// hostileAll is a 255-byte pattern alternating "#" and "*" (128 words,
// 64 of them "*"): it matches every key of at least 64 words.
var hostileAll = strings.TrimSuffix(strings.Repeat("#.*.", 64), ".")

// hostileKey is a 128-word, at most 255-byte routing key: an empty word,
// 126 words "a", and the literal of binding target. Against hostilePattern
// it makes every "#" try every split, and only binding target matches.
// target must be below 36 (a one-character literal) to stay within 255 bytes.
func hostileKey(target int) string {
	return "." + strings.Repeat("a.", 126) + hostileLiteral(target)
}

// countTopicNodes counts the nodes of a trie below and including n.
func countTopicNodes(n *topicNode) int {
	if n == nil {
		return 0
	}
	c := 1 + countTopicNodes(n.star) + countTopicNodes(n.hash)
	for _, ch := range n.words {
		c += countTopicNodes(ch)
	}
	return c
}

func TestTopicReferenceMatcherAgreesWithNaive(t *testing.T) {
	word := rapid.SampledFrom([]string{"a", "b", "", "*", "#"})
	keyWord := rapid.SampledFrom([]string{"a", "b", ""})
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.SliceOfN(word, 0, 7).Draw(t, "pattern")
		k := rapid.SliceOfN(keyWord, 0, 8).Draw(t, "key")
		if got, want := refTopicMatch(p, k), topicMatches(p, k); got != want {
			t.Fatalf("pattern %q key %q: reference %v, naive %v", p, k, got, want)
		}
	})
}

// TestTopicMatchesReferenceAdversarial is the differential test of the
// trie against refTopicMatch: several patterns in one trie, some of them
// unbound again (pruning), patterns biased towards long runs of "#" and
// "*" (the shapes that made the old walker explode) and keys of up to 40
// words over a tiny alphabet.
func TestTopicMatchesReferenceAdversarial(t *testing.T) {
	plain := rapid.SampledFrom([]string{"a", "b", "", "*", "#"})
	wild := rapid.SampledFrom([]string{"*", "#"})
	keyWord := rapid.SampledFrom([]string{"a", "b", ""})
	rapid.Check(t, func(t *rapid.T) {
		var tr topicTrie
		type binding struct {
			pattern string
			q       *queue
			live    bool
		}
		var bs []*binding
		for i, n := 0, rapid.IntRange(1, 8).Draw(t, "patterns"); i < n; i++ {
			var ws []string
			for s, segs := 0, rapid.IntRange(0, 5).Draw(t, "segments"); s < segs; s++ {
				if rapid.Bool().Draw(t, "wild run") {
					ws = append(ws, rapid.SliceOfN(wild, 1, 12).Draw(t, "run")...)
				} else {
					ws = append(ws, rapid.SliceOfN(plain, 1, 4).Draw(t, "words")...)
				}
			}
			p := strings.Join(ws, ".")
			if i > 0 && rapid.IntRange(0, 4).Draw(t, "repeat") == 0 {
				p = bs[rapid.IntRange(0, i-1).Draw(t, "of")].pattern // two queues, one pattern
			}
			b := &binding{pattern: p, q: &queue{name: fmt.Sprint("q", i)}, live: true}
			bs = append(bs, b)
			tr.insert(p, b.q)
		}
		for _, b := range bs {
			if rapid.IntRange(0, 3).Draw(t, "unbind") == 0 {
				if !tr.remove(b.pattern, b.q) {
					t.Fatalf("removing bound pattern %q reported false", b.pattern)
				}
				b.live = false
			}
		}
		for k, n := 0, rapid.IntRange(1, 4).Draw(t, "keys"); k < n; k++ {
			key := strings.Join(rapid.SliceOfN(keyWord, 0, 40).Draw(t, "key"), ".")
			var want []string
			for _, b := range bs {
				if b.live && refTopicMatch(words(b.pattern), words(key)) && !slices.Contains(want, b.q.name) {
					want = append(want, b.q.name)
				}
			}
			slices.Sort(want)
			if got := matchNames(&tr, key); !slices.Equal(got, want) {
				t.Fatalf("key %q routes to %v, want %v", key, got, want)
			}
		}
	})
}

// TestTopicHostileBindingsBoundedWork binds 1,000 adversarial patterns
// (255-byte-class alternations of "#" and "*") and one pure alternation,
// publishes 128-word keys through the core and checks the routing and the
// matcher's work: at most (words+1) × (trie nodes) states per publish, the
// bound of a walk that visits each (node, word position) pair at most once.
// No timing is asserted; the count is deterministic.
func TestTopicHostileBindingsBoundedWork(t *testing.T) {
	const bindings = 1000
	h := newHarness(t, Config{})
	h.open(1)
	h.exchange("t", Topic)
	for i := 0; i < bindings; i++ {
		q := fmt.Sprintf("q%04d", i)
		h.queue(q, QueueOptions{})
		h.bind("t", q, hostilePattern(i))
	}
	h.queue("all", QueueOptions{})
	h.bind("t", "all", hostileAll)
	if len(hostileAll) != 255 || len(hostilePattern(bindings-1)) > 255 {
		t.Fatalf("pattern lengths %d, %d", len(hostileAll), len(hostilePattern(bindings-1)))
	}
	nodes := countTopicNodes(&h.c.exchanges["t"].topic.root)
	for n, target := range []int{0, 7, 35} {
		key := hostileKey(target)
		if w := len(words(key)); w != 128 || len(key) > 255 {
			t.Fatalf("key has %d words, %d bytes", w, len(key))
		}
		h.mustConfirm(1, "t", key, fmt.Sprint("m", n), "x")
		visits := h.c.router.walk.visits
		if bound := (128 + 1) * nodes; visits > bound {
			t.Fatalf("key for q%04d: %d states visited, bound (words+1) × nodes = %d", target, visits, bound)
		}
		t.Logf("key for q%04d: %d states visited over a trie of %d nodes", target, visits, nodes)
		if got := h.stats(fmt.Sprintf("q%04d", target)).Published; got != 1 {
			t.Fatalf("q%04d got %d messages, want 1", target, got)
		}
		if got := h.stats("all").Published; got != uint64(n+1) {
			t.Fatalf("all got %d messages, want %d", got, n+1)
		}
	}
	for i := 0; i < bindings; i++ {
		want := uint64(0)
		if i == 0 || i == 7 || i == 35 {
			want = 1
		}
		if got := h.stats(fmt.Sprintf("q%04d", i)).Published; got != want {
			t.Fatalf("q%04d got %d messages, want %d", i, got, want)
		}
	}
	// A key that no literal matches still routes to "all" alone.
	h.mustConfirm(1, "t", "."+strings.Repeat("a.", 126)+"zz", "m-none", "x")
	if got := h.stats("all").Published; got != 4 {
		t.Fatalf("all got %d messages, want 4", got)
	}
}

// recheckTopicCosts recomputes size, wmax and cost of every node from
// scratch and reports the first node whose kept values differ.
func recheckTopicCosts(n *topicNode, path string) error {
	size, wmax := 1, 0
	for w, c := range n.words {
		if err := recheckTopicCosts(c, path+"."+w); err != nil {
			return err
		}
		size += c.size
		wmax = max(wmax, c.cost)
	}
	for _, c := range []*topicNode{n.star, n.hash} {
		if c != nil {
			if err := recheckTopicCosts(c, path+".?"); err != nil {
				return err
			}
			size += c.size
		}
	}
	want := *n
	want.size, want.wmax = size, wmax
	want.recompute()
	if n.size != want.size || n.wmax != want.wmax || n.cost != want.cost {
		return fmt.Errorf("node %s: size/wmax/cost %d/%d/%d, recomputed %d/%d/%d", path, n.size, n.wmax, n.cost, want.size, want.wmax, want.cost)
	}
	return nil
}

// TestTopicCostKeptAndSound: after random binds and unbinds the costs kept
// at bind time equal a recomputation from scratch, and no routing key makes
// a match visit more states than the trie's cost (the bound that
// MaxTopicStates is checked against).
func TestTopicCostKeptAndSound(t *testing.T) {
	plain := rapid.SampledFrom([]string{"a", "b", "", "*", "#"})
	wild := rapid.SampledFrom([]string{"*", "#", "a"})
	keyWord := rapid.SampledFrom([]string{"a", "b", ""})
	rapid.Check(t, func(t *rapid.T) {
		var tr topicTrie
		type binding struct {
			pattern string
			q       *queue
		}
		var live []binding
		for op, n := 0, rapid.IntRange(1, 30).Draw(t, "ops"); op < n; op++ {
			if len(live) > 0 && rapid.IntRange(0, 2).Draw(t, "unbind") == 0 {
				i := rapid.IntRange(0, len(live)-1).Draw(t, "which")
				if !tr.remove(live[i].pattern, live[i].q) {
					t.Fatalf("remove %q failed", live[i].pattern)
				}
				live = slices.Delete(live, i, i+1)
			} else {
				gen := plain
				if rapid.Bool().Draw(t, "wild") {
					gen = wild
				}
				p := strings.Join(rapid.SliceOfN(gen, 0, 20).Draw(t, "pattern"), ".")
				b := binding{p, &queue{name: fmt.Sprint("q", op)}}
				tr.insert(p, b.q)
				live = append(live, b)
			}
			if len(live) == 0 && tr.root.size <= 1 {
				continue // an emptied trie is all zero but the root's size
			}
			if err := recheckTopicCosts(&tr.root, "root"); err != nil {
				t.Fatal(err)
			}
			key := strings.Join(rapid.SliceOfN(keyWord, 0, 30).Draw(t, "key"), ".")
			matchNames(&tr, key)
			testRouteEpoch++
			r := router{epoch: testRouteEpoch}
			tr.match([]byte(key), &r)
			if r.walk.visits > tr.cost() {
				t.Fatalf("key %q visited %d states, above the trie's cost %d", key, r.walk.visits, tr.cost())
			}
		}
	})
}

// TestTopicBindRefusedPastStateBudget: distinct patterns mixing literals
// and "*" below a "#" (BenchmarkRouteTopicStarMix's shape) are refused with
// CodeInvalidArgument once the exchange's worst-case match would exceed
// MaxTopicStates; the refused binding leaves no trace, the others route.
func TestTopicBindRefusedPastStateBudget(t *testing.T) {
	h := newHarness(t, Config{})
	h.open(1)
	h.exchange("t", Topic)
	refusedAt := -1
	for i := 0; i < 100 && refusedAt < 0; i++ {
		q := fmt.Sprintf("q%04d", i)
		h.queue(q, QueueOptions{})
		p := "#." + strings.Replace(strings.Replace(hostilePattern(i), "#.*.", "a.", -1), "*.#.", "*.", -1)
		if err := h.c.Bind("t", q, p); err != nil {
			wantCode(t, err, CodeInvalidArgument)
			if !strings.Contains(err.Error(), "limit") {
				t.Fatalf("refusal does not name the limit: %v", err)
			}
			refusedAt = i
		}
	}
	if refusedAt < 1 {
		t.Fatalf("refused at binding %d: want some accepted, then a refusal", refusedAt)
	}
	h.check()
	ex := h.c.exchanges["t"]
	t.Logf("binding %d refused; the exchange's worst-case match is %d states", refusedAt, ex.topic.cost())
	if len(ex.bindings) != refusedAt || ex.topic.cost() > MaxTopicStates {
		t.Fatalf("%d bindings kept (want %d), cost %d", len(ex.bindings), refusedAt, ex.topic.cost())
	}
	if err := recheckTopicCosts(&ex.topic.root, "root"); err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("a.", 126) + hostileLiteral(0)
	h.mustConfirm(1, "t", key, "m", "x")
	if h.c.router.walk.visits > MaxTopicStates {
		t.Fatalf("%d states visited, above MaxTopicStates", h.c.router.walk.visits)
	}
	if got := h.stats("q0000").Published; got != 1 {
		t.Fatalf("q0000 got %d messages", got)
	}
	// Ordinary wide topologies stay far below the limit.
	h.exchange("tenants", Topic)
	for i := 0; i < 2000; i++ {
		h.bind("tenants", "q0000", fmt.Sprintf("tenant%d.#", i))
		h.bind("tenants", "q0000", fmt.Sprintf("#.tenant%d.*.error", i))
	}
}
