package broker

import (
	"bytes"
	"strings"
	"testing"
)

// The ids both protocols must be able to carry: the reference clients'
// uuid4 strings, our sequential "prefix-N" ids, and printable non-ASCII.
func TestMessageIDAlphabetAccepts(t *testing.T) {
	for _, id := range []string{"m-1", "p1-000004", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "été", "a/b:c#d", strings.Repeat("i", MaxMessageIDLen)} {
		if e := validateMessageID([]byte(id)); e != nil {
			t.Errorf("id %q refused: %v", id, e)
		}
	}
}

func TestPublishRefusals(t *testing.T) {
	tests := []struct {
		name     string
		conn     ConnID
		ex, key  string
		id, body string
		code     Code
	}{
		{"connection not open", 9, "x", "q", "m", "b", CodeProtocol},
		{"empty message id", 1, "x", "q", "", "b", CodeInvalidArgument},
		{"message id too long", 1, "x", "q", strings.Repeat("i", 256), "b", CodeInvalidArgument},
		{"message id with a space", 1, "x", "q", "m 1", "b", CodeInvalidArgument},
		{"message id with a tab", 1, "x", "q", "m\t1", "b", CodeInvalidArgument},
		{"message id with a newline", 1, "x", "q", "m\n", "b", CodeInvalidArgument},
		{"message id with a NUL", 1, "x", "q", "m\x00", "b", CodeInvalidArgument},
		{"message id with DEL", 1, "x", "q", "m\x7f", "b", CodeInvalidArgument},
		{"message id of invalid UTF-8", 1, "x", "q", "m\xff", "b", CodeInvalidArgument},
		{"message id with a no-break space", 1, "x", "q", "m\u00a0x", "b", CodeInvalidArgument},
		{"message id with a C1 control", 1, "x", "q", "m\u0085", "b", CodeInvalidArgument},
		{"message id with a line separator", 1, "x", "q", "m\u2028", "b", CodeInvalidArgument},
		{"body too large", 1, "x", "q", "m", strings.Repeat("b", 101), CodeTooLarge},
		{"routing key too long", 1, "x", strings.Repeat("k", 256), "m", "b", CodeInvalidArgument},
		{"unknown exchange", 1, "nope", "q", "m", "b", CodeExchangeNotFound},
		{"no route", 1, "x", "nobody", "m", "b", CodeNoRoute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxMessageSize: 100})
			h.topology("q")
			h.open(1)
			h.mustRefuse(tc.conn, tc.ex, tc.key, tc.id, tc.body, tc.code)
			if len(h.c.Held()) != 0 {
				t.Fatalf("refused publish left messages: %+v", h.c.Held())
			}
			if got := h.c.Stats().Refused; got != 1 {
				t.Fatalf("refused counter %d, want 1", got)
			}
			// A refused id is not remembered: the same id is accepted later.
			if validateMessageID([]byte(tc.id)) == nil {
				h.mustConfirm(1, "x", "q", tc.id, "b")
			}
		})
	}
}

func TestPublishAtExactLimits(t *testing.T) {
	h := newHarness(t, Config{MaxMessageSize: 100})
	h.topology(strings.Repeat("k", 255))
	h.open(1)
	h.mustConfirm(1, "x", strings.Repeat("k", 255), strings.Repeat("i", 255), strings.Repeat("b", 100))
}

func TestPublishQueueFull(t *testing.T) {
	tests := []struct {
		name string
		opts QueueOptions
		// publishes before the refused one, and whether one of them is
		// held unacked (which must still count)
		before  []string
		fetch   bool
		refused string
	}{
		{"max length counts ready", QueueOptions{MaxLength: 2}, []string{"a", "b"}, false, "c"},
		{"max length counts unacked", QueueOptions{MaxLength: 2}, []string{"a", "b"}, true, "c"},
		{"max bytes", QueueOptions{MaxBytes: 5}, []string{"aa", "bb"}, false, "cc"},
		{"max bytes counts unacked", QueueOptions{MaxBytes: 5}, []string{"aa", "bb"}, true, "cc"},
		{"single message above max bytes", QueueOptions{MaxBytes: 5}, nil, false, "cccccc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("x", Fanout)
			h.queue("full", tc.opts)
			h.queue("roomy", QueueOptions{})
			h.bind("x", "full", "")
			h.bind("x", "roomy", "")
			h.open(1)
			for i, body := range tc.before {
				h.mustConfirm(1, "x", "", string(rune('a'+i)), body)
			}
			if tc.fetch {
				if _, ok := h.fetch(1, "full"); !ok {
					t.Fatal("nothing to fetch")
				}
			}
			before := h.stats("roomy")
			h.mustRefuse(1, "x", "", "refused", tc.refused, CodeQueueFull)
			// All or nothing: the roomy queue did not get it either.
			after := h.stats("roomy")
			if after.Ready != before.Ready || after.Published != before.Published {
				t.Fatalf("roomy queue changed by a refused publish: %+v → %+v", before, after)
			}
			if s := h.stats("full"); s.Refused != 1 {
				t.Fatalf("full queue refused counter %d, want 1", s.Refused)
			}
			if s := h.stats("roomy"); s.Refused != 0 {
				t.Fatalf("roomy queue refused counter %d, want 0", s.Refused)
			}
			if tc.before == nil {
				effs := h.publish(1, "x", "", "again", tc.refused)
				if !strings.Contains(effs[0].Err.Msg, "can never fit") {
					t.Fatalf("refusal of a message larger than max bytes should say it never fits: %s", effs[0].Err.Msg)
				}
			}
			if ex := h.c.Stats().Exchanges[0]; ex.Published != uint64(len(tc.before)) {
				t.Fatalf("exchange published %d, want %d", ex.Published, len(tc.before))
			}
		})
	}
}

func TestPublishConfirmThenDeliver(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.open(2)
	h.consume(2, ConsumeOptions{Queue: "q", Tag: "c"})
	effs := h.publish(1, "x", "q", "m1", "hello")
	if len(effs) != 2 || effs[0].Kind != EffectConfirm || effs[0].Conn != 1 || effs[1].Kind != EffectDeliver || effs[1].Conn != 2 {
		t.Fatalf("effects %s, want confirm to 1 then deliver to 2", describe(effs))
	}
	d := effs[1].Delivery
	want := Delivery{ConsumerTag: "c", Tag: 1, Queue: "q", Exchange: "x", RoutingKey: "q", MessageID: "m1", Body: []byte("hello"), DeliveryCount: 1}
	if d.ConsumerTag != want.ConsumerTag || d.Tag != want.Tag || d.Queue != want.Queue || d.Exchange != want.Exchange ||
		d.RoutingKey != want.RoutingKey || d.MessageID != want.MessageID || !bytes.Equal(d.Body, want.Body) ||
		d.Redelivered || d.DeliveryCount != 1 {
		t.Fatalf("delivery %+v, want %+v", d, want)
	}
}

func TestPublishCopiesItsInput(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	p := &Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("q"), MessageID: []byte("id-1"), Body: []byte("original")}
	h.c.Publish(1, p, h.now)
	h.c.Drain()
	copy(p.Body, "XXXXXXXX")
	copy(p.MessageID, "YYYY")
	copy(p.RoutingKey, "Z")
	d, ok := h.fetch(1, "q")
	if !ok || string(d.Body) != "original" || d.MessageID != "id-1" || d.RoutingKey != "q" {
		t.Fatalf("stored message changed with the caller's buffers: %+v", d)
	}
}

func TestPublishMultipleQueuesOrderByName(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Fanout)
	for _, q := range []string{"c", "a", "b"} {
		h.queue(q, QueueOptions{})
		h.bind("x", q, "")
	}
	h.open(1)
	h.open(2)
	for _, q := range []string{"b", "c", "a"} {
		h.consume(2, ConsumeOptions{Queue: q})
	}
	effs := h.publish(1, "x", "", "m", "")
	var got []string
	for _, e := range effs[1:] {
		got = append(got, e.Delivery.Queue)
	}
	if !equalStrings(got, []string{"a", "b", "c"}) {
		t.Fatalf("deliveries by queue %v, want name order [a b c]", got)
	}
	if effs[1].Delivery.Tag != 1 || effs[2].Delivery.Tag != 2 || effs[3].Delivery.Tag != 3 {
		t.Fatalf("tags not issued in delivery order: %s", describe(effs))
	}
}
