package broker

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestRouteTargetsInNameOrderByConstruction binds and unbinds queues in a
// random order (a queue may be bound several times with different keys)
// and checks that every exchange type routes to each matching queue once,
// in name order, with no sort in the publish path: direct and fanout keep
// their target lists ordered at bind time, topic orders what it matched.
func TestRouteTargetsInNameOrderByConstruction(t *testing.T) {
	keys := []string{"a", "b", "a.b", "#", "*", "a.#"}
	rapid.Check(t, func(t *rapid.T) {
		typ := rapid.SampledFrom([]ExchangeType{Direct, Fanout, Topic}).Draw(t, "type")
		ex := newExchange("x", typ)
		var qs []*queue
		for i, n := 0, rapid.IntRange(1, 30).Draw(t, "queues"); i < n; i++ {
			qs = append(qs, newQueue(fmt.Sprintf("q%02d", i), QueueOptions{}, 0, nil))
		}
		type b struct {
			q   *queue
			key string
		}
		var bound []b
		for i, n := 0, rapid.IntRange(0, 80).Draw(t, "ops"); i < n; i++ {
			q := rapid.SampledFrom(qs).Draw(t, "queue")
			key := rapid.SampledFrom(keys).Draw(t, "key")
			if rapid.IntRange(0, 2).Draw(t, "unbind") == 0 {
				if ex.unbind(q, key) != slices.Contains(bound, b{q, key}) {
					t.Fatalf("unbind %s %q disagrees with the binding list", q.name, key)
				}
				bound = slices.DeleteFunc(bound, func(x b) bool { return x == b{q, key} })
			} else if ex.bind(q, key, "") {
				bound = append(bound, b{q, key})
			}
		}
		if !slices.IsSortedFunc(ex.fanout, compareQueueNames) {
			t.Fatalf("fanout list out of order")
		}
		for k, l := range ex.direct {
			if !slices.IsSortedFunc(l, compareQueueNames) {
				t.Fatalf("direct list of %q out of order", k)
			}
		}
		for _, key := range []string{"a", "b", "a.b", "c"} {
			var want []string
			for _, x := range bound {
				match := typ == Fanout || (typ == Direct && x.key == key) ||
					(typ == Topic && refTopicMatch(words(x.key), words(key)))
				if match && !slices.Contains(want, x.q.name) {
					want = append(want, x.q.name)
				}
			}
			slices.Sort(want)
			testRouteEpoch++
			r := router{epoch: testRouteEpoch}
			ex.route([]byte(key), &r)
			var got []string
			for _, q := range r.targets {
				got = append(got, q.name)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s exchange routes %q to %v, want %v (in name order, each once)", typ, key, got, want)
			}
		}
	})
}
