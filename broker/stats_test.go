package broker

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// runStatsWorkload runs a small but complete workload and returns the effects it
// produced, described.
func runStatsWorkload(h *harness) []string {
	var log []string
	record := func(effs []Effect) { log = append(log, describe(effs)) }
	h.exchange("x", Direct)
	h.exchange("t", Topic)
	h.queue("dlq", QueueOptions{})
	h.queue("b", QueueOptions{DeadLetterQueue: "dlq"})
	h.queue("a", QueueOptions{MaxLength: 3})
	h.bind("x", "a", "k")
	h.bind("x", "b", "k")
	h.bind("t", "b", "log.#")
	h.open(1)
	h.open(2)
	h.consume(2, ConsumeOptions{Queue: "b", Tag: "cb", Prefetch: 2})
	for i := 0; i < 4; i++ {
		record(h.publish(1, "x", "k", fmt.Sprint("m", i), "body"))
	}
	record(h.publish(1, "x", "k", "m0", "dup"))
	record(h.publish(1, "x", "nowhere", "u", ""))
	record(h.publish(1, "t", "log.a.b", "t1", "x"))
	d, _ := h.fetch(1, "a")
	h.ack(1, d.Tag, false)
	h.c.Reject(2, 1, h.now)
	h.c.Nack(2, 2, false, true, h.now)
	record(h.c.Drain())
	h.close(2)
	return log
}

func TestStatsCounters(t *testing.T) {
	h := newHarness(t, Config{})
	runStatsWorkload(h)
	s := h.c.Stats()
	if s.Connections != 1 || s.Consumers != 0 || s.Bindings != 3 || s.Duplicates != 1 || s.Refused != 2 {
		t.Fatalf("top-level stats %+v", s)
	}
	var names []string
	for _, q := range s.Queues {
		names = append(names, q.Name)
	}
	if !equalStrings(names, []string{"a", "b", "dlq"}) {
		t.Fatalf("queues not sorted by name: %v", names)
	}
	want := map[string]QueueStats{
		// a: m0, m1, m2 accepted; m3 refused (full); m0 fetched and acked.
		"a": {Name: "a", Ready: 2, Bytes: 8, Published: 3, Duplicates: 1, Delivered: 1, Acked: 1, Refused: 1},
		// b: m0..m2 and t1; m0 rejected to dlq, m1 nacked back and the
		// connection closed: m1 and m2 requeued.
		"b":   {Name: "b", Ready: 3, Bytes: 9, Published: 4, Duplicates: 1, Delivered: 4, Redelivered: 1, DeadLettered: 1},
		"dlq": {Name: "dlq", Ready: 1, Bytes: 4, DeadLetterIn: 1},
	}
	for _, q := range s.Queues {
		if q != want[q.Name] {
			t.Errorf("queue %s:\n got  %+v\n want %+v", q.Name, q, want[q.Name])
		}
	}
	ex := s.Exchanges
	if len(ex) != 2 || ex[0].Name != "t" && ex[0].Name > ex[1].Name {
		t.Fatalf("exchanges %+v", ex)
	}
	if ex[0] != (ExchangeStats{Name: "t", Type: "topic", Bindings: 1, Published: 1}) ||
		ex[1] != (ExchangeStats{Name: "x", Type: "direct", Bindings: 2, Published: 3, Unroutable: 1}) {
		t.Fatalf("exchange stats %+v", ex)
	}
}

func TestStatsJSONIsSnakeCase(t *testing.T) {
	h := newHarness(t, Config{})
	runStatsWorkload(h)
	b, err := json.Marshal(h.c.Stats())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"connections"`, `"dedup_ids"`, `"dead_lettered"`, `"dead_letter_in"`, `"unroutable"`, `"queues"`, `"ready"`, `"unacked"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("stats JSON lacks %s: %s", key, b)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Stats](), reflect.TypeFor[QueueStats](), reflect.TypeFor[ExchangeStats](), reflect.TypeFor[HeldMessage]()} {
		for i := 0; i < typ.NumField(); i++ {
			tag := typ.Field(i).Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "" || strings.ToLower(name) != name || strings.Contains(name, "-") {
				t.Errorf("%s.%s has json tag %q, want snake_case", typ.Name(), typ.Field(i).Name, tag)
			}
		}
	}
}

func TestHeld(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("b", "a")
	h.open(1)
	seedQueue(h, "b", "b1", "b2", "b3")
	seedQueue(h, "a", "a1")
	h.fetch(1, "b")
	h.fetch(1, "b")
	h.nack(1, 1, false, true) // b1 back at the head; b2 stays out
	got := h.c.Held()
	want := []HeldMessage{
		{Queue: "a", MessageID: "a1"},
		{Queue: "b", MessageID: "b1", DeliveryCount: 1, Redelivered: true},
		{Queue: "b", MessageID: "b3"},
		{Queue: "b", MessageID: "b2", Unacked: true, Conn: 1, Tag: 2, DeliveryCount: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Held:\n got  %+v\n want %+v", got, want)
	}
}

// TestDeterminism runs the same scenario on two cores: effects, stats and
// held messages must be identical.
func TestDeterminism(t *testing.T) {
	h1 := newHarness(t, Config{})
	h2 := newHarness(t, Config{})
	log1, log2 := runStatsWorkload(h1), runStatsWorkload(h2)
	if !reflect.DeepEqual(log1, log2) {
		t.Fatalf("effects differ:\n%v\n%v", log1, log2)
	}
	if !reflect.DeepEqual(h1.c.Stats(), h2.c.Stats()) || !reflect.DeepEqual(h1.c.Held(), h2.c.Held()) {
		t.Fatal("state differs between identical runs")
	}
}

func TestDrainReusesItsSlice(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	p := &Publish{Exchange: []byte("x"), RoutingKey: []byte("q"), Body: []byte("b")}
	publish := func(i int) {
		p.Seq = uint64(i)
		p.MessageID = []byte(fmt.Sprint(i))
		h.c.Publish(1, p, h.now)
	}
	publish(1)
	first := h.c.Drain()
	if len(first) != 1 || first[0].Seq != 1 {
		t.Fatalf("first drain %s", describe(first))
	}
	publish(2)
	// Effects produced after a Drain must not disturb the slice it returned.
	if first[0].Seq != 1 || first[0].Kind != EffectConfirm {
		t.Fatalf("a publish overwrote the drained slice: %s", describe(first))
	}
	second := h.c.Drain()
	if len(second) != 1 || second[0].Seq != 2 {
		t.Fatalf("second drain %s", describe(second))
	}
	publish(3)
	third := h.c.Drain()
	if &third[0] != &first[0] {
		t.Fatal("Drain allocates instead of reusing its buffers")
	}
	if len(h.c.Drain()) != 0 {
		t.Fatal("drain after drain returned effects")
	}
}

// TestDeletedQueueCountersKeepTotals: deleting a queue moves its counters
// into DeletedQueueCounters, so a broker-wide total (deleted plus live
// queues) does not go back when a queue goes.
func TestDeletedQueueCountersKeepTotals(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("a", "b")
	h.open(1)
	h.mustConfirm(1, "x", "a", "m1", "x")
	h.mustConfirm(1, "x", "a", "m2", "x")
	h.mustConfirm(1, "x", "b", "m3", "x")
	d, ok := h.fetch(1, "a")
	if !ok {
		t.Fatal("fetch from a: nothing")
	}
	h.ack(1, d.Tag, false)
	total := func() QueueStats {
		t := h.c.DeletedQueueCounters()
		h.c.EachQueue("", func(q QueueStats) bool {
			t.Published += q.Published
			t.Delivered += q.Delivered
			t.Acked += q.Acked
			return true
		})
		return t
	}
	before := total()
	if before.Published != 3 || before.Delivered != 1 || before.Acked != 1 {
		t.Fatalf("totals before the delete: %+v, want 3 published, 1 delivered, 1 acked", before)
	}
	if got := h.c.DeletedQueueCounters(); got != (QueueStats{}) {
		t.Fatalf("nothing deleted yet, DeletedQueueCounters = %+v", got)
	}
	if _, err := h.c.DeleteQueue("a", h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	if after := total(); after != before {
		t.Fatalf("totals after deleting a: %+v, want unchanged %+v", after, before)
	}
	if got := h.c.DeletedQueueCounters(); got.Published != 2 || got.Acked != 1 {
		t.Fatalf("DeletedQueueCounters = %+v, want a's 2 published and 1 acked", got)
	}
}
