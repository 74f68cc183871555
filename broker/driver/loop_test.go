package driver_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/driver"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

var epoch = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// peer is a test host's handle of one connection: what the broker wrote to
// it, decoded.
type peer struct {
	name   string
	frames []wire.Frame
	lc     *driver.Conn[*peer]
}

// host is a fake driver: it records every callback, and in Ready it takes
// the session's output at once (as the simulator does) and, when
// autoClose is set, closes a session that says it is closed.
type host struct {
	t         *testing.T
	loop      *driver.Loop[*peer]
	core      *broker.Core
	now       time.Time
	events    []string
	autoClose bool
	reenter   bool // Ready calls Settle (must be a no-op)
	next      broker.ConnID
}

func (h *host) Effect(e *broker.Effect, p *peer, ok bool) {
	name := "?"
	if ok {
		name = p.name
	}
	h.events = append(h.events, fmt.Sprintf("effect %s %s", e.Kind, name))
}

func (h *host) Ready(p *peer, now time.Time) {
	h.events = append(h.events, "ready "+p.name)
	if h.reenter {
		h.loop.Settle(now)
	}
	s := p.lc.Session()
	if out := s.Output(); len(out) > 0 {
		p.frames = append(p.frames, decode(h.t, out)...)
		p.lc.Wrote(len(out), now)
	}
	if closed, _ := s.Closed(); closed && h.autoClose {
		h.events = append(h.events, "close "+p.name)
		p.lc.Close(now)
	}
}

// log is a fake durable log.
type log struct {
	appends [][]uint64 // the tokens of each Append
	fail    error
}

func (l *log) Append(effects []*broker.Effect) error {
	var toks []uint64
	for _, e := range effects {
		if e.Kind != broker.EffectPersist || len(e.Records) == 0 {
			return fmt.Errorf("Append got a %v effect with %d records", e.Kind, len(e.Records))
		}
		toks = append(toks, e.Seq)
	}
	l.appends = append(l.appends, toks)
	return l.fail
}

func newHost(t *testing.T, cfg broker.Config, opts driver.Options) *host {
	h := &host{t: t, core: broker.New(cfg), now: epoch}
	h.loop = driver.New(h.core, h, opts)
	return h
}

// open registers a native session past Hello.
func (h *host) open(name string, heartbeat time.Duration) *peer {
	h.t.Helper()
	h.next++
	p := &peer{name: name}
	cfg := protocol.Config{Heartbeat: heartbeat, HandshakeTimeout: 5 * time.Second}
	p.lc = h.loop.Open(h.next, protocol.NewNative(h.core, h.next, cfg, h.now), p)
	hello := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: name})
	h.feed(p, hello)
	if len(p.frames) != 1 {
		h.t.Fatalf("%s: hello answered with %#v", name, p.frames)
	}
	if _, ok := p.frames[0].(*wire.HelloOK); !ok {
		h.t.Fatalf("%s: hello answered with %#v", name, p.frames[0])
	}
	p.frames = nil
	return p
}

func (h *host) feed(p *peer, in []byte) {
	h.t.Helper()
	n, err := p.lc.Feed(in, h.now)
	h.loop.Settle(h.now)
	if err == nil && n != len(in) {
		h.t.Fatalf("%s: Feed consumed %d of %d bytes", p.name, n, len(in))
	}
}

func (h *host) take() []string {
	ev := h.events
	h.events = nil
	return ev
}

func decode(t *testing.T, out []byte) []wire.Frame {
	t.Helper()
	var fs []wire.Frame
	for len(out) > 0 {
		typ, payload, n, err := wire.SplitFrame(out, 0)
		if err != nil || n == 0 {
			t.Fatalf("output is not whole frames: n=%d err=%v", n, err)
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			t.Fatalf("decoding %s: %v", typ, err)
		}
		fs = append(fs, f)
		out = out[n:]
	}
	return fs
}

func publish(seq uint64, exchange, key, id string) []byte {
	return wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(exchange), RoutingKey: []byte(key),
		MessageID: []byte(id), Body: []byte("body-" + id)})
}

func consume(queue string, prefetch uint64) []byte {
	return wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: queue, Prefetch: prefetch})
}

// only returns the frames of type T.
func only[T wire.Frame](fs []wire.Frame) []T {
	var out []T
	for _, f := range fs {
		if x, ok := f.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func TestEffectsReachTheirSessionsAndEachTouchedConnectionIsReadyOnce(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	pub := h.open("pub", 0)
	sub := h.open("sub", 0)
	h.feed(sub, consume(broker.DefaultQueue, 10))
	sub.frames = nil
	h.take()

	h.feed(pub, append(publish(1, broker.DefaultExchange, broker.DefaultRoutingKey, "a"),
		publish(2, broker.DefaultExchange, broker.DefaultRoutingKey, "b")...))
	want := []string{
		"effect confirm pub", "effect deliver sub", "effect confirm pub", "effect deliver sub",
		"ready pub", "ready sub", // pub first: Feed touched it before the effects
		"ready pub", "ready sub", // Wrote touched them again; nothing more to write
	}
	if got := h.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if c := only[*wire.Confirm](pub.frames); len(c) != 1 || c[0].First != 1 || c[0].Last != 2 {
		t.Fatalf("publisher got %#v, want one Confirm 1..2", pub.frames)
	}
	var ids []string
	for _, d := range only[*wire.Deliver](sub.frames) {
		ids = append(ids, string(d.MessageID))
	}
	if !reflect.DeepEqual(ids, []string{"a", "b"}) {
		t.Fatalf("subscriber got %#v, want deliveries a, b", sub.frames)
	}
}

func TestAnEffectForAnUnregisteredConnectionIsReportedAndDropped(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	pub := h.open("pub", 0)
	// A connection the core knows and the loop does not.
	h.core.Open(99, h.now)
	if _, err := h.core.Consume(99, broker.ConsumeOptions{Queue: broker.DefaultQueue, Prefetch: 1}, h.now); err != nil {
		t.Fatal(err)
	}
	h.take()
	h.feed(pub, publish(1, broker.DefaultExchange, broker.DefaultRoutingKey, "a"))
	got := h.take()
	if !slicesContain(got, "effect deliver ?") || !slicesContain(got, "effect confirm pub") {
		t.Fatalf("events %q: want the delivery to connection 99 reported as unknown and the confirm routed", got)
	}
}

func TestSettleFromInsideACallbackDoesNothing(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	pub := h.open("pub", 0)
	h.reenter = true
	h.take()
	h.feed(pub, publish(1, broker.DefaultExchange, broker.DefaultRoutingKey, "a"))
	if got, want := h.take(), []string{"effect confirm pub", "ready pub", "ready pub"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q (a nested Settle must not run the loop again)", got, want)
	}
}

// TestACloseInReadyIsRoutedInTheSameSettle: a session fails on bad input
// (no core effect in that step); the host closes it from Ready; the core
// requeues its unacked delivery to the other consumer. The delivery must
// leave in the same Settle, not wait in the outbox for the next event.
func TestACloseInReadyIsRoutedInTheSameSettle(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	h.autoClose = true
	pub := h.open("pub", 0)
	c1 := h.open("c1", 0)
	h.feed(c1, consume(broker.DefaultQueue, 1))
	h.feed(pub, publish(1, broker.DefaultExchange, broker.DefaultRoutingKey, "m"))
	if d := only[*wire.Deliver](c1.frames); len(d) != 1 {
		t.Fatalf("c1 got %#v, want the delivery of m", c1.frames)
	}
	c2 := h.open("c2", 0)
	h.feed(c2, consume(broker.DefaultQueue, 1))
	c2.frames = nil
	h.take()

	// A frame of an unknown type is fatal: c1's session closes itself.
	h.feed(c1, []byte{0, 0, 0, 1, 0xEE})
	got := h.take()
	want := []string{"ready c1", "close c1", "effect deliver c2", "ready c2", "ready c2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if d := only[*wire.Deliver](c2.frames); len(d) != 1 || string(d[0].MessageID) != "m" || d[0].Flags&wire.FlagRedelivered == 0 {
		t.Fatalf("c2 got %#v, want the redelivery of m", c2.frames)
	}
	if _, ok := h.loop.Lookup(c1.lc.ID()); ok {
		t.Fatal("the closed connection is still registered after Settle")
	}
	if h.loop.Len() != 2 {
		t.Fatalf("Len %d, want 2", h.loop.Len())
	}
}

func TestAClosingConnectionKeepsItsEffectsUntilSettleThenIsForgotten(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	c := h.open("c", 0)
	h.feed(c, consume(broker.DefaultQueue, 1))
	h.take()
	c.lc.Close(h.now)
	if _, ok := h.loop.Lookup(c.lc.ID()); !ok {
		t.Fatal("forgotten before Settle: the core's effects for it would be reported as unknown")
	}
	c.lc.Touch()
	h.loop.Settle(h.now)
	if got := h.take(); len(got) != 0 {
		t.Fatalf("events %q after closing: a closed connection gets no Ready", got)
	}
	if _, ok := h.loop.Lookup(c.lc.ID()); ok {
		t.Fatal("still registered after Settle")
	}
	// Steps on a closed connection are ignored.
	if n, err := c.lc.Feed([]byte{1, 2, 3}, h.now); n != 3 || err != nil {
		t.Fatalf("Feed after Close: %d, %v", n, err)
	}
	c.lc.Close(h.now) // idempotent
	h.loop.Settle(h.now)
	if h.loop.Len() != 0 {
		t.Fatalf("Len %d, want 0", h.loop.Len())
	}
}

func durableTopology(t *testing.T, core *broker.Core) {
	t.Helper()
	if err := core.DeclareExchange("dx", broker.Direct); err != nil {
		t.Fatal(err)
	}
	if err := core.DeclareQueue("dq", broker.QueueOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	if err := core.Bind("dx", "dq", "k"); err != nil {
		t.Fatal(err)
	}
}

func TestPersistRecordsOfOneDrainAreAppendedOnceAndConfirmsWaitForSynced(t *testing.T) {
	lg := &log{}
	h := newHost(t, broker.Config{}, driver.Options{Log: lg})
	durableTopology(t, h.core)
	h.loop.Settle(h.now) // the declarations' own records
	lg.appends = nil
	pub := h.open("pub", 0)
	var in []byte
	for i := uint64(1); i <= 3; i++ {
		in = append(in, publish(i, "dx", "k", fmt.Sprint("m", i))...)
	}
	h.feed(pub, in)
	if len(lg.appends) != 1 || len(lg.appends[0]) != 3 {
		t.Fatalf("appends %v, want one Append of three persist effects", lg.appends)
	}
	if h.loop.Appended() != lg.appends[0][2] {
		t.Fatalf("Appended %d, want the last token %d", h.loop.Appended(), lg.appends[0][2])
	}
	if c := only[*wire.Confirm](pub.frames); len(c) != 0 {
		t.Fatalf("confirmed before the log synced: %#v", pub.frames)
	}
	h.loop.Synced(h.loop.Appended(), h.now)
	h.loop.Settle(h.now)
	if c := only[*wire.Confirm](pub.frames); len(c) != 1 || c[0].First != 1 || c[0].Last != 3 {
		t.Fatalf("after Synced the publisher got %#v, want Confirm 1..3", pub.frames)
	}
}

func TestReleaseOnWriteConfirmsInTheSameSettle(t *testing.T) {
	lg := &log{}
	h := newHost(t, broker.Config{}, driver.Options{Log: lg, ReleaseOnWrite: true})
	durableTopology(t, h.core)
	pub := h.open("pub", 0)
	h.feed(pub, publish(1, "dx", "k", "m"))
	if c := only[*wire.Confirm](pub.frames); len(c) != 1 || c[0].First != 1 {
		t.Fatalf("publisher got %#v, want Confirm 1 at once", pub.frames)
	}
}

func TestAFailedLogRefusesHeldConfirmsAndIsNotCalledAgain(t *testing.T) {
	lg := &log{fail: errors.New("disk on fire")}
	h := newHost(t, broker.Config{}, driver.Options{Log: lg})
	durableTopology(t, h.core)
	pub := h.open("pub", 0)
	h.feed(pub, publish(1, "dx", "k", "m1"))
	nacks := only[*wire.Nack](pub.frames)
	if len(nacks) != 1 || nacks[0].Seq != 1 || nacks[0].Code != uint16(broker.CodeUnavailable) || !strings.Contains(nacks[0].Reason, "disk on fire") {
		t.Fatalf("publisher got %#v, want Nack 1 (unavailable: disk on fire)", pub.frames)
	}
	calls := len(lg.appends)
	h.feed(pub, publish(2, "dx", "k", "m2"))
	if len(lg.appends) != calls {
		t.Fatalf("the log was called again after it failed: %v", lg.appends)
	}
	if n := only[*wire.Nack](pub.frames); len(n) != 2 {
		t.Fatalf("the second durable publish got %#v, want a Nack", pub.frames)
	}
}

// TestAFailedSyncLeavesHeldPublishesUnansweredAndClosesTheirConnection:
// a publish whose confirm waits for the log when the log fails is
// enqueued but maybe not on disk, so it gets neither a Confirm nor a Nack
// ("stored nothing" would be false): the loop closes its connection with
// 503 and a reason saying the outcome is unknown. A connection with
// nothing held keeps working.
func TestAFailedSyncLeavesHeldPublishesUnansweredAndClosesTheirConnection(t *testing.T) {
	lg := &log{}
	h := newHost(t, broker.Config{}, driver.Options{Log: lg})
	durableTopology(t, h.core)
	h.loop.Settle(h.now)
	pub, other := h.open("pub", 0), h.open("other", 0)
	h.feed(pub, publish(1, "dx", "k", "m1"))
	h.loop.StorageFailed("fsync: input/output error", h.now)
	h.loop.Settle(h.now)
	if n, c := only[*wire.Nack](pub.frames), only[*wire.Confirm](pub.frames); len(n) != 0 || len(c) != 0 {
		t.Fatalf("publisher got %#v: a publish of unknown outcome must stay unanswered", pub.frames)
	}
	cl := only[*wire.Close](pub.frames)
	if len(cl) != 1 || cl[0].Code != uint16(broker.CodeUnavailable) || !strings.Contains(cl[0].Reason, "outcome of your unconfirmed publishes is unknown") {
		t.Fatalf("publisher got %#v, want Close 503 (outcome unknown)", pub.frames)
	}
	if cl := only[*wire.Close](other.frames); len(cl) != 0 {
		t.Fatalf("a connection with nothing held was closed: %#v", other.frames)
	}
	h.feed(other, publish(1, "dx", "k", "m1")) // the resend, elsewhere
	if n := only[*wire.Nack](other.frames); len(n) != 1 || n[0].Code != uint16(broker.CodeUnavailable) {
		t.Fatalf("the resend got %#v, want Nack 503", other.frames)
	}
}

func TestNextDeadlineAndTickSessionsTickOnlyWhatIsDue(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	fast := h.open("fast", time.Second)
	h.now = h.now.Add(500 * time.Millisecond)
	slow := h.open("slow", 3*time.Second)
	h.take()
	at, ok := h.loop.NextDeadline()
	fd, _ := fast.lc.Session().NextDeadline()
	if !ok || !at.Equal(fd) {
		t.Fatalf("NextDeadline %v %v, want fast's %v", at, ok, fd)
	}
	h.now = at
	h.loop.TickSessions(h.now)
	h.loop.Settle(h.now)
	if got, want := h.take(), []string{"ready fast", "ready fast"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %q, want %q (only the due session ticks)", got, want)
	}
	if len(only[*wire.Heartbeat](fast.frames)) != 1 || len(slow.frames) != 0 {
		t.Fatalf("fast got %#v, slow %#v: want one heartbeat to fast only", fast.frames, slow.frames)
	}
	if at2, _ := h.loop.NextDeadline(); !at2.After(at) {
		t.Fatalf("NextDeadline %v did not move past %v", at2, at)
	}
}

func TestAChunkedTeardownKeepsTheDeadlineAtNowUntilTickCoreFinishesIt(t *testing.T) {
	const n = 200
	h := newHost(t, broker.Config{TeardownStep: 16}, driver.Options{})
	pub := h.open("pub", 0)
	c := h.open("c", 0)
	h.feed(c, consume(broker.DefaultQueue, n))
	var in []byte
	for i := uint64(1); i <= n; i++ {
		in = append(in, publish(i, broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprint("m", i))...)
	}
	h.feed(pub, in)
	if d := only[*wire.Deliver](c.frames); len(d) != n {
		t.Fatalf("consumer got %d deliveries, want %d", len(d), n)
	}
	c.lc.Close(h.now)
	h.loop.Settle(h.now)
	ticks := 0
	for h.core.Closing() > 0 {
		at, ok := h.loop.NextDeadline()
		if !ok || !at.Equal(h.now) {
			t.Fatalf("teardown pending, NextDeadline %v %v: want now (%v)", at, ok, h.now)
		}
		if ticks++; ticks > n {
			t.Fatal("teardown does not finish")
		}
		h.loop.TickCore(h.now)
		h.loop.Settle(h.now)
	}
	if ticks < 2 {
		t.Fatalf("teardown of %d deliveries took %d ticks with a step of 16: not chunked", n, ticks)
	}
	if q, _ := h.core.Queue(broker.DefaultQueue); q.Ready != n || q.Unacked != 0 {
		t.Fatalf("after teardown the queue holds %+v, want %d ready", q, n)
	}
}

func TestOpeningARegisteredIDPanics(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	p := h.open("p", 0)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	h.loop.Open(p.lc.ID(), protocol.NewNative(h.core, p.lc.ID(), protocol.Config{}, h.now), &peer{})
}

func TestConnsYieldsOpenConnectionsInOpenOrder(t *testing.T) {
	h := newHost(t, broker.Config{}, driver.Options{})
	var all []*peer
	for i := range 80 {
		all = append(all, h.open(fmt.Sprint("p", i), 0))
	}
	for i, p := range all {
		if i%3 != 0 {
			p.lc.Close(h.now)
		}
	}
	h.loop.Settle(h.now) // forgets them, and compacts the order
	var got, want []string
	for lc := range h.loop.Conns() {
		got = append(got, lc.Host().name)
	}
	for i := 0; i < 80; i += 3 {
		want = append(want, fmt.Sprint("p", i))
	}
	if !reflect.DeepEqual(got, want) || h.loop.Len() != len(want) {
		t.Fatalf("Conns %q (Len %d), want %q", got, h.loop.Len(), want)
	}
	q := h.open("late", 0) // a new one goes last
	var last string
	for lc := range h.loop.Conns() {
		last = lc.Host().name
	}
	if last != q.name {
		t.Fatalf("last connection %q, want %q", last, q.name)
	}
}

// TestSameStepsSameEvents: the loop is deterministic: the same steps at
// the same times give the same callbacks, in the same order.
func TestSameStepsSameEvents(t *testing.T) {
	run := func() []string {
		h := newHost(t, broker.Config{TeardownStep: 4}, driver.Options{})
		h.autoClose = true
		pub := h.open("pub", time.Second)
		var subs []*peer
		for i := range 4 {
			s := h.open(fmt.Sprint("s", i), time.Second)
			h.feed(s, consume(broker.DefaultQueue, 3))
			subs = append(subs, s)
		}
		for i := uint64(1); i <= 20; i++ {
			h.feed(pub, publish(i, broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprint("m", i)))
		}
		subs[1].lc.Close(h.now)
		h.loop.Settle(h.now)
		for range 10 {
			at, ok := h.loop.NextDeadline()
			if !ok {
				break
			}
			h.now = at
			h.loop.TickCore(h.now)
			h.loop.TickSessions(h.now)
			h.loop.Settle(h.now)
		}
		return h.take()
	}
	a, b := run(), run()
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs of the same steps differ (or are empty):\n%q\n%q", a, b)
	}
}

func slicesContain(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
