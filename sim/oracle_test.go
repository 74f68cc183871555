package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// TestTopicMatchReference pins the reference model's topic rule, written
// independently of the core's trie: "#" matches zero or more words at any
// position, "*" exactly one.
func TestTopicMatchReference(t *testing.T) {
	cases := []struct {
		pat, key string
		want     bool
	}{
		{"#", "a", true}, {"#", "a.b.c", true},
		{"a.#", "a", true}, {"a.#", "a.b.c", true}, {"a.#", "b", false},
		{"#.a", "a", true}, {"#.a", "b.c.a", true}, {"#.a", "a.b", false},
		{"a.#.b", "a.b", true}, {"a.#.b", "a.c.c.b", true}, {"a.#.b", "a.c", false},
		{"#.#", "a", true}, {"#.#.a", "a", true},
		{"*", "a", true}, {"*", "a.b", false},
		{"*.#", "a", true}, {"*.#", "a.b.c", true},
		{"#.*", "a", true}, {"#.*.*", "a", false}, {"#.*.*", "a.b", true},
		{"*.a.*", "b.a.c", true}, {"*.a.*", "a.c", false},
		{"a.*.#.c", "a.b.c", true}, {"a.*.#.c", "a.c", false},
	}
	for _, c := range cases {
		if got := topicMatch(strings.Split(c.pat, "."), strings.Split(c.key, ".")); got != c.want {
			t.Errorf("topicMatch(%q, %q) = %v, want %v", c.pat, c.key, got, c.want)
		}
	}
}

// oracleRig is a real core with the simulator's topology and the oracle
// watching it, driven command by command, so a test can doctor the core
// behind the reference model's back.
type oracleRig struct {
	t    *testing.T
	topo topology
	o    *enqueueOracle
	core *broker.Core
	now  VTime
	seq  uint64
	inc  uint64
}

func newOracleRig(t *testing.T, cfg broker.Config, durable bool) *oracleRig {
	grammar := []bindDecl{{exGrammar, "q0", "#.a"}, {exGrammar, "q1", "a.*"}}
	r := &oracleRig{t: t, topo: newTopology(2, broker.QueueOptions{}, grammar, nil)}
	r.o = newEnqueueOracle(r.topo.model, r.topo.queues, durable, broker.DefaultDedupWindow)
	r.restart(cfg)
	return r
}

func (r *oracleRig) restart(cfg broker.Config) {
	cfg.NoDefaults = true
	r.core = broker.New(cfg)
	if err := r.topo.declare(r.core); err != nil {
		r.t.Fatal(err)
	}
	r.inc++
	r.o.started(r.core, r.inc, r.now)
	r.core.Open(1, r.now.Time())
}

func (r *oracleRig) publish(id, exchange, key string) {
	r.seq++
	r.now += VTime(time.Millisecond)
	r.o.plan(id, exchange, key)
	r.core.Publish(1, &broker.Publish{Seq: r.seq, User: "p0", Exchange: []byte(exchange), RoutingKey: []byte(key),
		MessageID: []byte(id), Body: []byte("x")}, r.now.Time())
	r.core.Drain()
	r.o.step(r.core, r.now)
}

// TestRoutingOracleSeesAQueueTheModelDoesNotName doctors the core: a
// binding the reference model does not know. The oracle must name the
// extra queue; before it, the same publishes pass.
func TestRoutingOracleSeesAQueueTheModelDoesNotName(t *testing.T) {
	r := newOracleRig(t, broker.Config{}, false)
	r.publish("m-1", exDirect, "q0")
	r.publish("m-2", exGrammar, "a") // "#.a" (zero words before a) and "a.*" (no: one word needed)
	r.publish("m-3", exGrammar, "a.a")
	r.publish("m-4", exFanout, "k")
	if len(r.o.misrouted) != 0 {
		t.Fatalf("a faithful core was reported misrouted: %v", r.o.misrouted)
	}
	if err := r.core.Bind(exDirect, "q1", "q0"); err != nil {
		t.Fatal(err)
	}
	r.publish("m-5", exDirect, "q0")
	if len(r.o.misrouted) != 1 || !strings.Contains(r.o.misrouted[0], "m-5") || !strings.Contains(r.o.misrouted[0], "[q0 q1]") {
		t.Fatalf("the extra queue went unnoticed: %v", r.o.misrouted)
	}
	r.o.confirmed("m-1")
	r.o.confirmed("never-published")
	if len(r.o.misrouted) != 2 || !strings.Contains(r.o.misrouted[1], "never enqueued") {
		t.Fatalf("a confirmed publish that was never enqueued went unnoticed: %v", r.o.misrouted)
	}
}

// TestExactlyOnceOracleAcrossRestarts: within one incarnation a second
// enqueue of an id is always a finding (here the core's dedup is switched
// off); across a restart it is one only when the id's publish record was
// fsynced before the crash.
func TestExactlyOnceOracleAcrossRestarts(t *testing.T) {
	cfg := broker.Config{Mutations: broker.Mutations{NoDedup: true}}
	r := newOracleRig(t, cfg, true)
	r.publish("m-1", exDirect, "q0")
	r.publish("m-2", exDirect, "q1")
	if len(r.o.enqueuedAgain) != 0 {
		t.Fatalf("first enqueues reported: %v", r.o.enqueuedAgain)
	}
	r.publish("m-1", exDirect, "q0")
	if len(r.o.enqueuedAgain) != 1 || !strings.Contains(r.o.enqueuedAgain[0], "same broker incarnation") {
		t.Fatalf("a second enqueue in one incarnation went unnoticed: %v", r.o.enqueuedAgain)
	}
	// m-2's record reaches the disk, m-3's is appended but never fsynced.
	r.o.persisted(1, []wal.Record{{Type: wal.RecPublish, MessageID: "m-2"}})
	r.o.persisted(2, []wal.Record{{Type: wal.RecPublish, MessageID: "m-3"}})
	r.o.fsynced(1)
	r.publish("m-3", exDirect, "q1")
	r.o.crashed()
	r.restart(broker.Config{})
	r.publish("m-3", exDirect, "q1") // forgotten with its unsynced record: no finding
	if len(r.o.enqueuedAgain) != 1 || r.o.resent != 1 {
		t.Fatalf("an enqueue the broker could not remember was reported (%v), or not counted (resent %d)", r.o.enqueuedAgain, r.o.resent)
	}
	r.publish("m-2", exDirect, "q1") // its dedup record was on disk
	if len(r.o.enqueuedAgain) != 2 || !strings.Contains(r.o.enqueuedAgain[1], "fsynced before the crash") {
		t.Fatalf("a second enqueue after a restart that should have remembered went unnoticed: %v", r.o.enqueuedAgain)
	}
}

// TestRoutingOracleCatchesTopicHashOneWord: the core binds "#" as "*";
// the grammar exchange's patterns and keys (zero-word and multi-word "#"
// matches) must show it within the mutation budget, without the receivers.
func TestRoutingOracleCatchesTopicHashOneWord(t *testing.T) {
	for seed := uint64(1); seed <= mutationSeeds; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Mutations: Mutations{TopicHashOneWord: true}})
		if len(res.Misrouted) > 0 {
			if res.OK() {
				t.Fatalf("seed %d: misrouted, but the run counts as OK", seed)
			}
			t.Logf("caught at seed %d: %s", seed, res.Misrouted[0])
			return
		}
	}
	t.Fatalf("no seed of %d reported a misrouted publish with \"#\" bound as \"*\"", mutationSeeds)
}

// TestExactlyOnceOracleCatchesRestoreForgettingDedup: a durable broker that
// does not rebuild its dedup window from the log enqueues a retried publish
// again after a restart. The receivers' dedup hides that from the history
// (their stores hold the first copy), so only the broker-level oracle can
// see it; the run must fail.
func TestExactlyOnceOracleCatchesRestoreForgettingDedup(t *testing.T) {
	for seed := uint64(1); seed <= mutationSeeds; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}, Mutations: Mutations{RestoreForgetsDedup: true}})
		if len(res.EnqueuedAgain) > 0 {
			if res.OK() {
				t.Fatalf("seed %d: enqueued again, but the run counts as OK", seed)
			}
			t.Logf("caught at seed %d (history verdict OK: %v): %s", seed, res.Report.OK(), res.EnqueuedAgain[0])
			return
		}
	}
	t.Fatalf("no seed of %d reported a copy enqueued again after a restart", mutationSeeds)
}

// TestSweepRequiresOnlyWhatItsSizeReaches: a sweep of N seeds requires an
// event only from the event's budget on.
func TestSweepRequiresOnlyWhatItsSizeReaches(t *testing.T) {
	swarm := Config{Swarm: true}
	if got := RequiredSometimes(SometimesBudget-1, swarm); len(got) != 0 {
		t.Fatalf("a sweep below every budget requires %v", got)
	}
	got := RequiredSometimes(SometimesBudget, swarm)
	if !slices.Contains(got, SometimesPrefixEvicted) || slices.Contains(got, SometimesSegmentRolled) {
		t.Fatalf("a swarm sweep of %d requires %v", SometimesBudget, got)
	}
	if got := RequiredSometimes(SometimesBudget, Config{Swarm: true, Workload: Workload{Durable: true}}); !slices.Contains(got, SometimesLogCompacted) {
		t.Fatalf("a durable sweep does not require the log's events: %v", got)
	}
	sometimesBudgets[SometimesPrefixEvicted] = 500
	defer delete(sometimesBudgets, SometimesPrefixEvicted)
	if slices.Contains(RequiredSometimes(499, swarm), SometimesPrefixEvicted) || !slices.Contains(RequiredSometimes(500, swarm), SometimesPrefixEvicted) {
		t.Fatal("an event with a budget of 500 is required below it or not from it")
	}
}

// TestOracleAcceptsOnlyPairedHiddenDeadLetters: in one step a dead letter
// of id X is acked from the dead-letter queue while X's copy in another
// queue is rejected into it, so the held copies of X do not change (seed
// 573 with application rejects). The counters pair the hidden entry with
// the hidden exit, so it is no finding; an entry the counters cannot pair
// still is.
func TestOracleAcceptsOnlyPairedHiddenDeadLetters(t *testing.T) {
	r := newOracleRig(t, broker.Config{}, false)
	r.publish("m-1", exFanout, "k") // q0 and q1
	now := func() time.Time { r.now += VTime(time.Millisecond); return r.now.Time() }
	deliver := func(q string) uint64 {
		t.Helper()
		if _, err := r.core.Consume(1, broker.ConsumeOptions{Queue: q, Prefetch: 10}, now()); err != nil {
			t.Fatal(err)
		}
		for _, e := range r.core.Drain() {
			if e.Kind == broker.EffectDeliver && e.Delivery.Queue == q {
				return e.Delivery.Tag
			}
		}
		t.Fatalf("no delivery from %s", q)
		return 0
	}
	if err := r.core.Reject(1, deliver("q1"), now()); err != nil {
		t.Fatal(err)
	}
	r.core.Drain()
	r.o.step(r.core, r.now)
	dl, q0 := deliver(deadLetterQueue), deliver("q0")
	r.o.step(r.core, r.now)
	if err := r.core.Ack(1, dl, false, now()); err != nil {
		t.Fatal(err)
	}
	if err := r.core.Reject(1, q0, now()); err != nil {
		t.Fatal(err)
	}
	r.core.Drain()
	r.o.step(r.core, r.now)
	if len(r.o.misrouted) != 0 {
		t.Fatalf("a paired hidden dead letter was reported: %v", r.o.misrouted)
	}
	// The core's counter says one more dead letter came in than the oracle
	// saw, with no exit to pair it: a finding.
	i := slices.Index(r.o.queues, deadLetterQueue)
	r.o.sigs[i].deadLetterIn--
	r.o.step(r.core, r.now)
	if len(r.o.misrouted) != 1 || !strings.Contains(r.o.misrouted[0], "dead-lettered into dlq") {
		t.Fatalf("an unpaired dead letter went unnoticed: %v", r.o.misrouted)
	}
}
