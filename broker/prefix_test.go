package broker

import (
	"bytes"
	"testing"

	"github.com/ciphermq/ciphermq/broker/record"
)

// publishPrefixed publishes prefix ‖ rest and returns the effects.
func (h *harness) publishPrefixed(conn ConnID, key, id string, p *Prefix, rest string) []Effect {
	h.t.Helper()
	h.seq++
	h.c.Publish(conn, &Publish{Seq: h.seq, Exchange: []byte("x"), RoutingKey: []byte(key), MessageID: []byte(id), Prefix: p, Body: []byte(rest)}, h.now)
	effs := h.c.Drain()
	h.check()
	return effs
}

func TestPrefixedMessageIsSharedAndCountedWhole(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("a", "b")
	h.bind("x", "a", "both")
	h.bind("x", "b", "both")
	h.open(1)
	p := NewPrefix([]byte("HEADER-"))
	if effs := h.publishPrefixed(1, "both", "m1", p, "one"); effs[0].Kind != EffectConfirm {
		t.Fatalf("publish: %s", describe(effs))
	}
	for _, q := range []string{"a", "b"} {
		if got := h.stats(q).Bytes; got != int64(len("HEADER-one")) {
			t.Fatalf("queue %s holds %d bytes, want the logical body's %d", q, got, len("HEADER-one"))
		}
		d, ok := h.fetch(1, q)
		if !ok {
			t.Fatalf("queue %s: nothing to fetch", q)
		}
		if d.Prefix != p {
			t.Fatalf("queue %s: the delivery does not share the published prefix", q)
		}
		if got := string(d.AppendBody(nil)); got != "HEADER-one" || d.BodyLen() != len(got) {
			t.Fatalf("queue %s: logical body %q (len %d)", q, got, d.BodyLen())
		}
	}
}

func TestPrefixCountsAgainstLimits(t *testing.T) {
	h := newHarness(t, Config{MaxMessageSize: 10})
	h.exchange("x", Direct)
	h.queue("small", QueueOptions{MaxBytes: 12})
	h.bind("x", "small", "k")
	h.open(1)
	p := NewPrefix([]byte("12345678"))
	if effs := h.publishPrefixed(1, "k", "big", p, "abc"); effs[0].Kind != EffectRefuse || effs[0].Err.Code != CodeTooLarge {
		t.Fatalf("8 + 3 bytes over a 10-byte limit: %s", describe(effs))
	}
	if effs := h.publishPrefixed(1, "k", "ok", p, "ab"); effs[0].Kind != EffectConfirm {
		t.Fatalf("8 + 2 bytes: %s", describe(effs))
	}
	if effs := h.publishPrefixed(1, "k", "full", p, "a"); effs[0].Kind != EffectRefuse || effs[0].Err.Code != CodeQueueFull {
		t.Fatalf("queue of max 12 bytes holding 10: %s", describe(effs))
	}
}

func TestDeadLetteredPrefixedMessageKeepsItsPrefix(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq"})
	h.bind("x", "q", "q")
	h.open(1)
	p := NewPrefix([]byte("P:"))
	h.publishPrefixed(1, "q", "m", p, "body")
	d, _ := h.fetch(1, "q")
	if err := h.c.Reject(1, d.Tag, h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	dl, ok := h.fetch(1, "dlq")
	if !ok || dl.Prefix != p || string(dl.AppendBody(nil)) != "P:body" {
		t.Fatalf("dead-lettered copy: ok=%v body %q", ok, dl.AppendBody(nil))
	}
	if got := h.stats("dlq").Bytes; got != 6 {
		t.Fatalf("dlq bytes %d, want 6", got)
	}
}

// TestDurablePrefixedMessageSurvivesRestart: the log holds the whole body;
// the restored message has no prefix and the same bytes.
func TestDurablePrefixedMessageSurvivesRestart(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	p := NewPrefix(bytes.Repeat([]byte{0xC3}, 1200))
	r.c.Publish(1, &Publish{Seq: 1, Exchange: []byte("ex"), RoutingKey: []byte("dk"), MessageID: []byte("m"), Prefix: p, Body: []byte("rest")}, t0)
	r.sync()
	// Dead-letter it too, so the copy's record is checked as well.
	if _, err := r.c.Consume(1, ConsumeOptions{Queue: "d", Tag: "c"}, t0); err != nil {
		t.Fatal(err)
	}
	r.pump()
	if err := r.c.Reject(1, 1, t0); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.crash()
	want := append(bytes.Repeat([]byte{0xC3}, 1200), "rest"...)
	r.c.Open(2, t0)
	d, ok, err := r.c.Fetch(2, "dlq", t0)
	if err != nil || !ok {
		t.Fatalf("fetch after restart: %v %v", ok, err)
	}
	if d.Prefix != nil || !bytes.Equal(d.AppendBody(nil), want) {
		t.Fatalf("restored body differs (prefix %v, %d bytes)", d.Prefix != nil, d.BodyLen())
	}
}

func TestRecordBodyPrefixIsOneFieldOnDisk(t *testing.T) {
	joined := record.Record{Type: record.RecPublish, Seq: 1, MessageID: "m", Body: []byte("headrest"), Targets: []record.Target{{Queue: "q"}}}
	split := joined
	split.BodyPrefix, split.Body = []byte("head"), []byte("rest")
	a, err := record.AppendRecord(nil, &joined)
	if err != nil {
		t.Fatal(err)
	}
	b, err := record.AppendRecord(nil, &split)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("a record with a body prefix encodes differently from the joined body")
	}
}
