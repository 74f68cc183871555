package broker

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var testRouteEpoch uint64

// matchNames returns the names of the queues a topic trie routes key to.
func matchNames(tr *topicTrie, key string) []string {
	testRouteEpoch++
	r := router{epoch: testRouteEpoch}
	tr.match([]byte(key), &r)
	var names []string
	for _, q := range r.targets {
		names = append(names, q.name)
	}
	slices.Sort(names)
	return names
}

func TestTopicMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"a.b.c", []string{"a.b.c"}, []string{"a.b", "a.b.c.d", "a.b.x", "", "a.b.c."}},
		{"*", []string{"a", "abc", "#"}, []string{"", "a.b", "."}},
		{"#", []string{"", "a", "a.b.c", ".", "a..b"}, nil},
		{"a.*", []string{"a.b", "a.", "a.*"}, []string{"a", "a.b.c", "b.a"}},
		{"*.b", []string{"a.b", ".b"}, []string{"b", "a.b.c", "a.a.b"}},
		{"a.#", []string{"a", "a.b", "a.b.c", "a."}, []string{"", "b", "ab", "b.a"}},
		{"#.a", []string{"a", "x.a", "x.y.a", ".a"}, []string{"", "a.x", "xa"}},
		{"a.#.b", []string{"a.b", "a.x.b", "a.x.y.b", "a..b"}, []string{"a", "b", "a.b.c", "x.a.b"}},
		{"#.#", []string{"", "a", "a.b.c"}, nil},
		{"#.*", []string{"a", "a.b", "a.b.c", "."}, []string{""}},
		{"*.#", []string{"a", "a.b"}, []string{""}},
		{"*.*", []string{"a.b", ".", "a."}, []string{"a", "a.b.c", ""}},
		{"a.*.#.c", []string{"a.b.c", "a.b.x.c", "a.b.x.y.c"}, []string{"a.c", "a.b", "a.b.c.d"}},
		{"#.a.#", []string{"a", "x.a", "a.x", "x.a.y", "a.a"}, []string{"", "x", "xa.y"}},
		{"", []string{""}, []string{"a", "."}},
		{"a..b", []string{"a..b"}, []string{"a.b", "a.x.b"}},
		{".", []string{"."}, []string{"", "a"}},
		{"a.#.#.b", []string{"a.b", "a.x.b", "a.x.y.b"}, []string{"a", "a.x"}},
		{"a#.b", []string{"a#.b"}, []string{"a.b", "ax.b"}}, // "#" only special as a whole word
		{"a*", []string{"a*"}, []string{"ab", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			var tr topicTrie
			q := &queue{name: "q"}
			tr.insert(tc.pattern, q)
			for _, key := range tc.match {
				if got := matchNames(&tr, key); !slices.Equal(got, []string{"q"}) {
					t.Errorf("pattern %q should match key %q", tc.pattern, key)
				}
			}
			for _, key := range tc.noMatch {
				if got := matchNames(&tr, key); len(got) != 0 {
					t.Errorf("pattern %q should not match key %q", tc.pattern, key)
				}
			}
		})
	}
}

func TestTopicSeveralPatternsOneQueueMatchesOnce(t *testing.T) {
	var tr topicTrie
	q := &queue{name: "q"}
	other := &queue{name: "other"}
	for _, p := range []string{"#", "a.*", "a.b", "#.b", "*.*"} {
		tr.insert(p, q)
	}
	tr.insert("a.b", other)
	if got := matchNames(&tr, "a.b"); !slices.Equal(got, []string{"other", "q"}) {
		t.Fatalf("a.b routed to %v, want [other q] each once", got)
	}
	if got := matchNames(&tr, "z"); !slices.Equal(got, []string{"q"}) {
		t.Fatalf("z routed to %v, want [q]", got)
	}
}

func TestTopicRemovePrunesAndKeepsOthers(t *testing.T) {
	var tr topicTrie
	q1 := &queue{name: "q1"}
	q2 := &queue{name: "q2"}
	tr.insert("a.*.c", q1)
	tr.insert("a.#", q2)
	tr.insert("#", q1)
	tr.insert("#.#", q1) // normalises to the same path as "#": two entries
	if !tr.remove("a.*.c", q1) {
		t.Fatal("removing an existing binding reported false")
	}
	if tr.remove("a.*.c", q1) {
		t.Fatal("removing a missing binding reported true")
	}
	if tr.remove("x.y", q1) {
		t.Fatal("removing a pattern with no path reported true")
	}
	if got := matchNames(&tr, "a.b.c"); !slices.Equal(got, []string{"q1", "q2"}) {
		t.Fatalf("after removal a.b.c routes to %v", got)
	}
	if !tr.remove("#", q1) {
		t.Fatal("remove # failed")
	}
	if got := matchNames(&tr, "zz"); !slices.Equal(got, []string{"q1"}) {
		t.Fatalf("the #.# binding should still route zz to q1, got %v", got)
	}
	if !tr.remove("#.#", q1) || !tr.remove("a.#", q2) {
		t.Fatal("removing the last bindings failed")
	}
	if !tr.root.empty() {
		t.Fatalf("trie not pruned to an empty root: %+v", tr.root)
	}
}

func TestTopicPatternCollapsesHashes(t *testing.T) {
	tests := map[string][]string{
		"":        nil,
		"#":       {"#"},
		"#.#":     {"#"},
		"#.#.#.a": {"#", "a"},
		"a.#.#.b": {"a", "#", "b"},
		"#.*.#":   {"*", "#"},
		"a..b":    {"a", "", "b"},
		"*.#.*":   {"*", "*", "#"},
		"#.a.*.#": {"#", "a", "*", "#"},
		"*.*":     {"*", "*"},
		"#..*.#":  {"#", "", "*", "#"},
	}
	for in, want := range tests {
		if got := topicPattern(in); !slices.Equal(got, want) {
			t.Errorf("topicPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTopicLongHashRunMatches: a run of twenty "#" behaves as one "#"
// (collapsed at bind time, which also keeps the walk short).
func TestTopicLongHashRunMatches(t *testing.T) {
	var tr topicTrie
	q := &queue{name: "q"}
	pattern := "#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.z"
	tr.insert(pattern, q)
	key := "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"
	if got := matchNames(&tr, key); len(got) != 0 {
		t.Fatalf("%q matched %q", pattern, key)
	}
	if got := matchNames(&tr, key+".z"); len(got) != 1 {
		t.Fatalf("%q did not match %q", pattern, key+".z")
	}
}

// TestTopicTrieMatchesNaiveMatcher compares the trie with the model's
// recursive matcher on random patterns and keys over a tiny alphabet (so
// that words, "*" and "#" collide often).
func TestTopicTrieMatchesNaiveMatcher(t *testing.T) {
	word := rapid.SampledFrom([]string{"a", "b", "", "*", "#"})
	keyWord := rapid.SampledFrom([]string{"a", "b", ""})
	join := func(ws []string) string { return strings.Join(ws, ".") }
	rapid.Check(t, func(t *rapid.T) {
		var tr topicTrie
		var patterns []string
		for i, n := 0, rapid.IntRange(1, 6).Draw(t, "patterns"); i < n; i++ {
			p := join(rapid.SliceOfN(word, 0, 6).Draw(t, "pattern"))
			patterns = append(patterns, p)
			tr.insert(p, &queue{name: fmt.Sprint("q", i)})
		}
		key := join(rapid.SliceOfN(keyWord, 0, 7).Draw(t, "key"))
		var want []string
		for i, p := range patterns {
			if topicMatches(words(p), words(key)) {
				want = append(want, fmt.Sprint("q", i))
			}
		}
		slices.Sort(want)
		if got := matchNames(&tr, key); !slices.Equal(got, want) {
			t.Fatalf("key %q over %q routes to %v, want %v", key, patterns, got, want)
		}
	})
}

// TestTopicPathologicalPatternIsBounded: several "#" against a long key of
// alternating words would take an exponential number of steps in a
// backtracking walk; the state-set walk visits each (node, word) pair at
// most once. The test has no timing assertion: an exponential walk would
// simply not finish.
func TestTopicPathologicalPatternIsBounded(t *testing.T) {
	var tr topicTrie
	q := &queue{name: "q"}
	tr.insert("#.a.#.b.#.a.#.b.#.a.#.b.#.c", q)
	key := strings.Repeat("a.b.", 60) + "z" // no "c" at the end: no match, every split tried
	if got := matchNames(&tr, key); len(got) != 0 {
		t.Fatalf("matched %v", got)
	}
	if got := matchNames(&tr, strings.Repeat("a.b.", 60)+"c"); len(got) != 1 {
		t.Fatalf("did not match, got %v", got)
	}
}
