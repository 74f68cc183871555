package broker

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wal"
)

// durableRig drives a core like the server does: EffectPersist records go
// to a store on a crashable in-memory disk; sync() fsyncs and reports
// Persisted. Other effects are kept for the test.
type durableRig struct {
	t       fataler
	fs      *wal.MemFS
	st      *wal.Store
	c       *Core
	cfg     Config
	lastTok uint64 // token of the last appended EffectPersist
	effects []Effect
}

// fataler is what the rig needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func newDurableRig(t fataler, cfg Config) *durableRig {
	cfg.NoDefaults = true
	r := &durableRig{t: t, fs: wal.NewMemFS(), cfg: cfg}
	r.start()
	return r
}

func (r *durableRig) start() {
	r.t.Helper()
	st, rec, err := wal.Open(r.fs, wal.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		r.t.Fatalf("open store: %v", err)
	}
	c, err := Restore(r.cfg, rec, st.ReadMessage, t0)
	if err != nil {
		r.t.Fatalf("restore: %v", err)
	}
	r.st, r.c, r.lastTok, r.effects = st, c, 0, nil
}

// pump moves the core's effects: records into the log, the rest to effects.
func (r *durableRig) pump() []Effect {
	r.t.Helper()
	var out []Effect
	for _, e := range r.c.Drain() {
		if e.Kind == EffectPersist {
			if _, err := r.st.Append(e.Records...); err != nil {
				r.t.Fatalf("append: %v", err)
			}
			r.lastTok = e.Seq
			continue
		}
		out = append(out, e)
	}
	r.effects = append(r.effects, out...)
	return out
}

func (r *durableRig) sync() []Effect {
	r.t.Helper()
	before := r.pump()
	if _, err := r.st.Sync(); err != nil {
		r.t.Fatalf("sync: %v", err)
	}
	r.c.Persisted(r.lastTok, t0)
	return append(before, r.pump()...)
}

// crash loses power and restarts the broker from the log.
func (r *durableRig) crash() {
	r.t.Helper()
	r.fs.Crash(0)
	r.start()
}

func (r *durableRig) publish(conn ConnID, seq uint64, ex, key, id string) {
	r.c.Publish(conn, &Publish{Seq: seq, Exchange: []byte(ex), RoutingKey: []byte(key), MessageID: []byte(id), Body: []byte("body of " + id)}, t0)
}

func kinds(effs []Effect) string {
	var s []string
	for _, e := range effs {
		s = append(s, fmt.Sprintf("%s:%d", e.Kind, e.Seq))
	}
	return fmt.Sprint(s)
}

func heldIDs(c *Core, queue string) []string {
	var ids []string
	for _, h := range c.Held() {
		if h.Queue == queue {
			ids = append(ids, h.MessageID)
		}
	}
	return ids
}

func durableTopology(t *testing.T, c *Core) {
	t.Helper()
	for _, err := range []error{
		c.DeclareExchange("ex", Direct),
		c.DeclareQueue("dlq", QueueOptions{Durable: true}),
		c.DeclareQueue("d", QueueOptions{Durable: true, DeadLetterQueue: "dlq", DeliveryLimit: 2}),
		c.DeclareQueue("mem", QueueOptions{}),
		c.Bind("ex", "d", "dk"),
		c.Bind("ex", "mem", "mk"),
		c.Bind("ex", "d", "both"),
		c.Bind("ex", "mem", "both"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestDurableConfirmWaitsForPersisted(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	r.c.Open(2, t0)
	r.publish(1, 1, "ex", "dk", "a") // durable: held
	r.publish(1, 2, "ex", "mk", "b") // in-memory, but behind a on conn 1
	r.publish(2, 1, "ex", "mk", "c") // in-memory on conn 2: at once
	if got := kinds(r.pump()); got != "[confirm:1]" {
		t.Fatalf("before the fsync: %s, want only conn 2's confirm", got)
	}
	if r.c.PendingPersist() != 2 {
		t.Fatalf("pending %d, want 2", r.c.PendingPersist())
	}
	effs := r.sync()
	if got := kinds(effs); got != "[confirm:1 confirm:2]" || effs[0].Conn != 1 || effs[1].Conn != 1 {
		t.Fatalf("after the fsync: %s", got)
	}
	// The log holds the durable publish only.
	r.crash()
	if got := heldIDs(r.c, "d"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after a crash d holds %v", got)
	}
	if r.c.QueueExists("mem") {
		t.Fatal("the in-memory queue survived a restart")
	}
}

func TestUnacknowledgedDurableMessagesComeBackRedelivered(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	for i := 1; i <= 5; i++ {
		r.publish(1, uint64(i), "ex", "both", fmt.Sprintf("m%d", i))
	}
	r.sync()
	if _, err := r.c.Consume(1, ConsumeOptions{Queue: "d", Tag: "c", Prefetch: 3}, t0); err != nil {
		t.Fatal(err)
	}
	r.pump()
	// Deliveries 1..3: ack m1, nack m2 without requeue (dead-letter), keep m3.
	if err := r.c.Ack(1, 1, false, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Nack(1, 2, false, false, t0); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.crash()
	held := r.c.Held()
	var got []string
	for _, h := range held {
		got = append(got, fmt.Sprintf("%s/%s/%d/%v", h.Queue, h.MessageID, h.DeliveryCount, h.Redelivered))
	}
	// m4 and m5 were pushed to the consumer as m1 and m2 left (prefetch 3):
	// all three unacked ones come back ready, redelivered, with their counts.
	want := []string{"d/m3/1/true", "d/m4/1/true", "d/m5/1/true", "dlq/m2/0/false"}
	if !slices.Equal(got, want) {
		t.Fatalf("after restart:\n got %v\nwant %v", got, want)
	}
	if err := r.c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	// The dedup window came back: a retried publish of m1 is a duplicate.
	r.c.Open(9, t0)
	r.publish(9, 1, "ex", "dk", "m1")
	if effs := r.sync(); len(effs) != 1 || !effs[0].Duplicate {
		t.Fatalf("retry of m1 after restart: %s", describe(effs))
	}
	// Message numbers continue after the restored ones.
	r.publish(9, 2, "ex", "dk", "m7")
	r.sync()
	r.crash()
	if got := heldIDs(r.c, "d"); !slices.Equal(got, []string{"m3", "m4", "m5", "m7"}) {
		t.Fatalf("second restart: %v", got)
	}
}

// TestStorageFailureLeavesUnknownOutcomesUnanswered: after a failed
// fsync the publishes waiting for it are enqueued but maybe not on disk,
// so the core answers them neither with a confirm (durability unknown)
// nor with a refusal ("stored nothing" would be false): it drops them and
// names their connections for the driver to close. The old behaviour
// (refusing them CodeUnavailable) fails the "no answer" checks.
func TestStorageFailureLeavesUnknownOutcomesUnanswered(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	for _, id := range []ConnID{1, 2, 3, 4} {
		r.c.Open(id, t0)
	}
	r.publish(3, 1, "ex", "dk", "c") // durable, fsynced and confirmed before the failure
	if effs := r.sync(); len(effs) != 1 || effs[0].Kind != EffectConfirm {
		t.Fatalf("c before the failure: %s", describe(effs))
	}
	r.publish(1, 1, "ex", "dk", "a") // held for its fsync
	r.publish(1, 2, "ex", "mk", "m") // in memory, queued behind a
	r.publish(2, 1, "ex", "mk", "x") // in memory, answered at once
	if effs := r.pump(); len(effs) != 1 || effs[0].Kind != EffectConfirm || effs[0].Conn != 2 {
		t.Fatalf("before the failure: %s", describe(effs))
	}
	closing, why := r.c.StorageFailed("fsync: input/output error", t0)
	if !slices.Equal(closing, []ConnID{1}) || why == nil || why.Code != CodeUnavailable ||
		!strings.Contains(why.Msg, "outcome of your unconfirmed publishes is unknown") {
		t.Fatalf("StorageFailed = %v, %v: want connection 1 closed with CodeUnavailable", closing, why)
	}
	if effs := r.pump(); len(effs) != 0 {
		t.Fatalf("held outcomes after the failure must stay unanswered: %s", describe(effs))
	}
	if r.c.PendingPersist() != 0 {
		t.Fatalf("%d outcomes still held", r.c.PendingPersist())
	}
	// Why no answer: a is enqueued (and may be delivered) all the same.
	if got := heldIDs(r.c, "d"); !slices.Contains(got, "a") {
		t.Fatalf("queue d holds %v: a should be enqueued", got)
	}
	// The publisher's resend of a, on a new connection: a duplicate of a
	// message whose fsync failed is not confirmed, it is refused
	// CodeUnavailable (indeterminate for a publisher that sent it twice);
	// a duplicate routed only to memory is confirmed; so are fresh
	// in-memory publishes, while fresh durable ones are refused.
	r.publish(4, 1, "ex", "dk", "a")
	r.publish(4, 2, "ex", "mk", "m")
	r.publish(4, 3, "ex", "dk", "b")
	r.publish(4, 4, "ex", "mk", "n")
	r.publish(4, 5, "ex", "both", "x") // duplicate, one target durable
	effs := r.pump()
	want := []struct {
		kind EffectKind
		dup  bool
	}{{EffectRefuse, false}, {EffectConfirm, true}, {EffectRefuse, false}, {EffectConfirm, false}, {EffectRefuse, false}}
	if len(effs) != len(want) {
		t.Fatalf("after the failure: %s", describe(effs))
	}
	for i, w := range want {
		e := effs[i]
		if e.Conn != 4 || e.Kind != w.kind || e.Duplicate != w.dup || (e.Kind == EffectRefuse && e.Err.Code != CodeUnavailable) {
			t.Fatalf("after the failure, outcome %d: %s", i, describe(effs))
		}
	}
	if got := heldIDs(r.c, "d"); slices.Contains(got, "b") || countOf(got, "a") != 1 {
		t.Fatalf("queue d holds %v: b refused, a once", got)
	}
	wantCode(t, r.c.DeclareQueue("d2", QueueOptions{Durable: true}), CodeUnavailable)
	// Connection 1, if its driver did not close it, is not blocked behind
	// the dropped outcomes.
	r.publish(1, 3, "ex", "mk", "o")
	if effs := r.pump(); len(effs) != 1 || effs[0].Kind != EffectConfirm || effs[0].Conn != 1 {
		t.Fatalf("connection 1 after the failure: %s", describe(effs))
	}
	r.c.StorageRecovered()
	r.publish(4, 6, "ex", "dk", "d")
	r.publish(4, 7, "ex", "dk", "a")
	if effs := r.sync(); len(effs) != 2 || effs[0].Kind != EffectConfirm || effs[0].Duplicate ||
		effs[1].Kind != EffectConfirm || !effs[1].Duplicate {
		t.Fatalf("after recovery: %s", describe(effs))
	}
}

func countOf(ids []string, id string) (n int) {
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func TestDurableQueueNeedsDurableDeadLetterQueue(t *testing.T) {
	c := New(Config{NoDefaults: true})
	if err := c.DeclareQueue("mem", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.DeclareQueue("d", QueueOptions{Durable: true, DeadLetterQueue: "mem"}), CodeInvalidArgument)
}

// TestConfirmBeforePersistIsCaught is the mutation proof: with the
// mutation, a confirmed message can be lost by a crash, and the check
// "every confirmed durable message is in the log after a crash" fails.
func TestConfirmBeforePersistIsCaught(t *testing.T) {
	for _, mutate := range []bool{false, true} {
		r := newDurableRig(t, Config{Mutations: Mutations{ConfirmBeforePersist: mutate}})
		durableTopology(t, r.c)
		r.sync()
		r.c.Open(1, t0)
		r.publish(1, 1, "ex", "dk", "a")
		confirmed := map[string]bool{}
		for _, e := range r.pump() {
			if e.Kind == EffectConfirm {
				confirmed["a"] = true
			}
		}
		r.crash() // before any fsync
		lost := confirmed["a"] && !slices.Contains(heldIDs(r.c, "d"), "a")
		if lost != mutate {
			t.Fatalf("mutation %v: confirmed %v, lost %v", mutate, confirmed["a"], lost)
		}
	}
}

func TestCheckInvariantsCatchesHeldMiscount(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	r.publish(1, 1, "ex", "dk", "a")
	r.pump()
	if err := r.c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	r.c.conns[1].held++ // break the bookkeeping on purpose
	if err := r.c.CheckInvariants(); err == nil {
		t.Fatal("a held count that does not match the queue passed the check")
	}
}

// TestConfirmSaysWhetherEveryCopyIsOnDisk: a confirm is Durable only when
// every target queue is durable; one in-memory target makes it "in memory
// only", and so does a duplicate that routes to an in-memory queue.
func TestConfirmSaysWhetherEveryCopyIsOnDisk(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	r.publish(1, 1, "ex", "dk", "a")   // durable only
	r.publish(1, 2, "ex", "mk", "b")   // in memory only
	r.publish(1, 3, "ex", "both", "c") // one copy in memory
	r.publish(1, 4, "ex", "dk", "a")   // duplicate of a: durable route
	r.publish(1, 5, "ex", "mk", "b")   // duplicate of b: in-memory route
	want := map[uint64]bool{1: true, 2: false, 3: false, 4: true, 5: false}
	effs := r.sync()
	if len(effs) != len(want) {
		t.Fatalf("effects %s, want five confirms", kinds(effs))
	}
	for _, e := range effs {
		if e.Kind != EffectConfirm || e.Durable != want[e.Seq] {
			t.Errorf("publish %d: %s durable=%v, want confirm durable=%v", e.Seq, e.Kind, e.Durable, want[e.Seq])
		}
	}
}
