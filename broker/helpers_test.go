package broker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the tests' epoch; tests move time explicitly.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// harness wraps a core with a clock and helpers that fail the test on
// surprises. It checks the core's internal invariants after every call.
type harness struct {
	t   testing.TB
	c   *Core
	now time.Time
	seq uint64
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	cfg.NoDefaults = true
	h := &harness{t: t, c: New(cfg), now: t0}
	return h
}

func (h *harness) check() {
	h.t.Helper()
	if err := h.c.CheckInvariants(); err != nil {
		h.t.Fatalf("core invariant broken: %v", err)
	}
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
}

func (h *harness) open(conn ConnID) {
	h.c.Open(conn, h.now)
}

func (h *harness) exchange(name string, typ ExchangeType) {
	h.t.Helper()
	if err := h.c.DeclareExchange(name, typ); err != nil {
		h.t.Fatalf("declare exchange %s: %v", name, err)
	}
}

func (h *harness) queue(name string, opts QueueOptions) {
	h.t.Helper()
	if err := h.c.DeclareQueue(name, opts); err != nil {
		h.t.Fatalf("declare queue %s: %v", name, err)
	}
}

func (h *harness) bind(ex, q, key string) {
	h.t.Helper()
	if err := h.c.Bind(ex, q, key); err != nil {
		h.t.Fatalf("bind %s %s %q: %v", ex, q, key, err)
	}
}

// topology declares a direct exchange "x" and queues bound to it with the
// queue's own name as key.
func (h *harness) topology(queues ...string) {
	h.t.Helper()
	h.exchange("x", Direct)
	for _, q := range queues {
		h.queue(q, QueueOptions{})
		h.bind("x", q, q)
	}
}

// publish sends one message and returns the effects it produced (after
// draining).
func (h *harness) publish(conn ConnID, ex, key, id, body string) []Effect {
	h.t.Helper()
	h.seq++
	h.c.Publish(conn, &Publish{Seq: h.seq, Exchange: []byte(ex), RoutingKey: []byte(key), MessageID: []byte(id), Body: []byte(body)}, h.now)
	effs := slices.Clone(h.c.Drain())
	if len(effs) == 0 || effs[0].Seq != h.seq || (effs[0].Kind != EffectConfirm && effs[0].Kind != EffectRefuse) {
		h.t.Fatalf("publish %s: first effect is %s, want a confirm or refuse for seq %d", id, describe(effs), h.seq)
	}
	h.check()
	return effs
}

// mustConfirm publishes and fails unless the publish is confirmed (not as a
// duplicate). It returns the deliveries that followed.
func (h *harness) mustConfirm(conn ConnID, ex, key, id, body string) []Delivery {
	h.t.Helper()
	effs := h.publish(conn, ex, key, id, body)
	if effs[0].Kind != EffectConfirm || effs[0].Duplicate {
		h.t.Fatalf("publish %s: got %s, want a plain confirm", id, describe(effs[:1]))
	}
	return deliveries(h.t, effs[1:])
}

// mustRefuse publishes and fails unless the publish is refused with code.
func (h *harness) mustRefuse(conn ConnID, ex, key, id, body string, code Code) {
	h.t.Helper()
	effs := h.publish(conn, ex, key, id, body)
	if effs[0].Kind != EffectRefuse || effs[0].Err == nil || effs[0].Err.Code != code {
		h.t.Fatalf("publish %s: got %s, want refuse code %d", id, describe(effs), code)
	}
	if len(effs) != 1 {
		h.t.Fatalf("publish %s: refusal followed by effects %s", id, describe(effs[1:]))
	}
}

func (h *harness) consume(conn ConnID, opts ConsumeOptions) (string, []Delivery) {
	h.t.Helper()
	tag, err := h.c.Consume(conn, opts, h.now)
	if err != nil {
		h.t.Fatalf("consume %+v: %v", opts, err)
	}
	h.check()
	return tag, h.drainDeliveries()
}

func (h *harness) drainDeliveries() []Delivery {
	h.t.Helper()
	return deliveries(h.t, slices.Clone(h.c.Drain()))
}

func (h *harness) ack(conn ConnID, tag uint64, multiple bool) []Delivery {
	h.t.Helper()
	if err := h.c.Ack(conn, tag, multiple, h.now); err != nil {
		h.t.Fatalf("ack %d/%d: %v", conn, tag, err)
	}
	h.check()
	return h.drainDeliveries()
}

func (h *harness) nack(conn ConnID, tag uint64, multiple, requeue bool) []Delivery {
	h.t.Helper()
	if err := h.c.Nack(conn, tag, multiple, requeue, h.now); err != nil {
		h.t.Fatalf("nack %d/%d: %v", conn, tag, err)
	}
	h.check()
	return h.drainDeliveries()
}

func (h *harness) fetch(conn ConnID, q string) (Delivery, bool) {
	h.t.Helper()
	d, ok, err := h.c.Fetch(conn, q, h.now)
	if err != nil {
		h.t.Fatalf("fetch %s: %v", q, err)
	}
	h.check()
	return d, ok
}

func (h *harness) close(conn ConnID) []Delivery {
	h.t.Helper()
	h.c.Close(conn, h.now)
	h.check()
	return h.drainDeliveries()
}

func (h *harness) tick() []Delivery {
	h.t.Helper()
	h.c.Tick(h.now)
	h.check()
	return h.drainDeliveries()
}

// stats returns one queue's stats or fails.
func (h *harness) stats(q string) QueueStats {
	h.t.Helper()
	qs, ok := h.c.Queue(q)
	if !ok {
		h.t.Fatalf("queue %s does not exist", q)
	}
	return qs
}

// readyIDs lists the ready message ids of a queue in order.
func (h *harness) readyIDs(q string) []string {
	var ids []string
	for _, m := range h.c.Held() {
		if m.Queue == q && !m.Unacked {
			ids = append(ids, m.MessageID)
		}
	}
	return ids
}

// deliveries converts effects that must all be deliveries.
func deliveries(t testing.TB, effs []Effect) []Delivery {
	t.Helper()
	var ds []Delivery
	for _, e := range effs {
		if e.Kind != EffectDeliver {
			t.Fatalf("unexpected effect %s", describe([]Effect{e}))
		}
		ds = append(ds, e.Delivery)
	}
	return ds
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.MessageID
	}
	return out
}

func describe(effs []Effect) string {
	var b strings.Builder
	b.WriteString("[")
	for i, e := range effs {
		if i > 0 {
			b.WriteString(" ")
		}
		switch e.Kind {
		case EffectConfirm:
			fmt.Fprintf(&b, "confirm(conn=%d seq=%d dup=%v)", e.Conn, e.Seq, e.Duplicate)
		case EffectRefuse:
			fmt.Fprintf(&b, "refuse(conn=%d seq=%d %v)", e.Conn, e.Seq, e.Err)
		case EffectDeliver:
			d := e.Delivery
			fmt.Fprintf(&b, "deliver(conn=%d %s tag=%d q=%s id=%s n=%d re=%v)", e.Conn, d.ConsumerTag, d.Tag, d.Queue, d.MessageID, d.DeliveryCount, d.Redelivered)
		case EffectCancelled:
			fmt.Fprintf(&b, "cancelled(conn=%d %s q=%s %v)", e.Conn, e.Delivery.ConsumerTag, e.Delivery.Queue, e.Err)
		default:
			fmt.Fprintf(&b, "%s", e.Kind)
		}
	}
	b.WriteString("]")
	return b.String()
}

// wantCode fails unless err is a *Error with the code.
func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want *Error with code %d", err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %d (%s), want %d", e.Code, e.Msg, code)
	}
	if e.Msg == "" {
		t.Fatalf("error with code %d has no message", code)
	}
}

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }

// xqk returns a core with direct exchange x bound to queue q by key k and
// connection 1 open.
func xqk(t testing.TB, cfg Config) *Core {
	t.Helper()
	c := New(cfg)
	if err := c.DeclareExchange("x", Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue("q", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind("x", "q", "k"); err != nil {
		t.Fatal(err)
	}
	c.Open(1, t0)
	return c
}
