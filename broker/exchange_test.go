package broker

import (
	"strings"
	"testing"
)

func TestDeclareExchange(t *testing.T) {
	tests := []struct {
		name string
		ex   string
		typ  ExchangeType
		code Code // 0: accepted
	}{
		{"direct", "orders", Direct, 0},
		{"fanout", "news", Fanout, 0},
		{"topic", "logs", Topic, 0},
		{"same type again", "existing", Direct, 0},
		{"other type", "existing", Topic, CodeMismatch},
		{"empty name", "", Direct, CodeInvalidArgument},
		{"too long", strings.Repeat("x", 256), Direct, CodeInvalidArgument},
		{"max length", strings.Repeat("x", 255), Direct, 0},
		{"space", "a b", Direct, CodeInvalidArgument},
		{"tab", "a\tb", Direct, CodeInvalidArgument},
		{"newline", "a\n", Direct, CodeInvalidArgument},
		{"control", "a\x01", Direct, CodeInvalidArgument},
		{"delete char", "a\x7f", Direct, CodeInvalidArgument},
		{"unicode space", "a\u00a0b", Direct, CodeInvalidArgument},
		{"invalid utf8", "a\xffb", Direct, CodeInvalidArgument},
		{"unicode ok", "émission.日本", Direct, 0},
		{"unknown type", "weird", ExchangeType(9), CodeInvalidArgument},
		{"zero type", "weird", 0, CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("existing", Direct)
			err := h.c.DeclareExchange(tc.ex, tc.typ)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("declare %q: %v", tc.ex, err)
				}
				if !h.c.ExchangeExists(tc.ex) {
					t.Fatalf("exchange %q does not exist after declare", tc.ex)
				}
				return
			}
			wantCode(t, err, tc.code)
			if tc.ex != "existing" && h.c.ExchangeExists(tc.ex) {
				t.Fatalf("refused declare of %q created it anyway", tc.ex)
			}
			if tc.ex == "existing" {
				if s := h.c.Stats().Exchanges[0]; s.Type != "direct" {
					t.Fatalf("mismatched declare changed the type to %s", s.Type)
				}
			}
		})
	}
}

func TestDefaultTopology(t *testing.T) {
	c := New(Config{})
	if !c.ExchangeExists(DefaultExchange) || !c.QueueExists(DefaultQueue) {
		t.Fatal("default exchange or queue missing")
	}
	c.Open(1, t0)
	c.Publish(1, &Publish{Seq: 7, Exchange: []byte(DefaultExchange), RoutingKey: []byte(DefaultRoutingKey), MessageID: []byte("m"), Body: []byte("b")}, t0)
	effs := c.Drain()
	if len(effs) != 1 || effs[0].Kind != EffectConfirm || effs[0].Seq != 7 {
		t.Fatalf("publish on the default topology: %s", describe(effs))
	}
	wantCode(t, c.DeleteExchange(DefaultExchange), CodeReserved)
	if !c.ExchangeExists(DefaultExchange) {
		t.Fatal("reserved exchange deleted")
	}

	bare := New(Config{NoDefaults: true})
	if bare.ExchangeExists(DefaultExchange) || bare.QueueExists(DefaultQueue) {
		t.Fatal("NoDefaults still declared the default topology")
	}
}

func TestDeleteExchange(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q1", "q2")
	h.exchange("f", Fanout)
	h.bind("f", "q1", "")
	if got := h.c.Stats().Bindings; got != 3 {
		t.Fatalf("bindings = %d, want 3", got)
	}
	if err := h.c.DeleteExchange("x"); err != nil {
		t.Fatal(err)
	}
	h.check()
	if h.c.ExchangeExists("x") {
		t.Fatal("exchange still exists")
	}
	if got := h.c.Stats().Bindings; got != 1 {
		t.Fatalf("bindings after delete = %d, want 1", got)
	}
	wantCode(t, h.c.DeleteExchange("x"), CodeExchangeNotFound)
	// The queues survive and can be bound to a new exchange of another type.
	h.exchange("x", Topic)
	h.bind("x", "q1", "#")
	h.open(1)
	if ds := h.mustConfirm(1, "x", "anything", "m1", "b"); len(ds) != 0 {
		t.Fatalf("unexpected deliveries %v", ids(ds))
	}
	if got := h.readyIDs("q1"); !equalStrings(got, []string{"m1"}) {
		t.Fatalf("q1 holds %v", got)
	}
}

func TestBind(t *testing.T) {
	tests := []struct {
		name          string
		ex, q, key    string
		code          Code
		wantBindings  int
		setupBindings int
	}{
		{"new binding", "x", "q", "k", 0, 2, 1},
		{"duplicate is idempotent", "x", "q", "existing", 0, 1, 1},
		{"same queue other key", "x", "q", "k2", 0, 2, 1},
		{"empty key", "x", "q", "", 0, 2, 1},
		{"unknown exchange", "nope", "q", "k", CodeExchangeNotFound, 1, 1},
		{"unknown queue", "x", "nope", "k", CodeQueueNotFound, 1, 1},
		{"key with space", "x", "q", "a b", CodeInvalidArgument, 1, 1},
		{"key too long", "x", "q", strings.Repeat("k", 256), CodeInvalidArgument, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("x", Direct)
			h.queue("q", QueueOptions{})
			h.bind("x", "q", "existing")
			err := h.c.Bind(tc.ex, tc.q, tc.key)
			if tc.code == 0 && err != nil {
				t.Fatalf("bind: %v", err)
			}
			if tc.code != 0 {
				wantCode(t, err, tc.code)
			}
			h.check()
			if got := h.c.Stats().Bindings; got != tc.wantBindings {
				t.Fatalf("bindings = %d, want %d", got, tc.wantBindings)
			}
		})
	}
}

func TestBindingLimit(t *testing.T) {
	h := newHarness(t, Config{MaxBindings: 2})
	h.topology("a", "b")
	h.queue("c", QueueOptions{})
	wantCode(t, h.c.Bind("x", "c", "c"), CodeResourceLimit)
	// A duplicate of an existing binding is not a new one.
	if err := h.c.Bind("x", "a", "a"); err != nil {
		t.Fatalf("duplicate bind at the limit: %v", err)
	}
	if err := h.c.Unbind("x", "a", "a"); err != nil {
		t.Fatal(err)
	}
	h.bind("x", "c", "c")
}

func TestExchangeAndQueueLimits(t *testing.T) {
	h := newHarness(t, Config{MaxExchanges: 1, MaxQueues: 1})
	h.exchange("x", Direct)
	wantCode(t, h.c.DeclareExchange("y", Direct), CodeResourceLimit)
	h.exchange("x", Direct) // redeclare at the limit is fine
	h.queue("q", QueueOptions{})
	wantCode(t, h.c.DeclareQueue("r", QueueOptions{}), CodeResourceLimit)
	h.queue("q", QueueOptions{})
}

func TestUnbind(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	if err := h.c.Unbind("x", "q", "q"); err != nil {
		t.Fatal(err)
	}
	h.check()
	h.mustRefuse(1, "x", "q", "m1", "", CodeNoRoute)
	if err := h.c.Unbind("x", "q", "q"); err != nil {
		t.Fatalf("unbinding a missing binding should be a no-op: %v", err)
	}
	wantCode(t, h.c.Unbind("nope", "q", "q"), CodeExchangeNotFound)
	wantCode(t, h.c.Unbind("x", "nope", "q"), CodeQueueNotFound)
	if got := h.c.Stats().Bindings; got != 0 {
		t.Fatalf("bindings = %d", got)
	}
}

func TestRouting(t *testing.T) {
	type binding struct{ q, key string }
	tests := []struct {
		name     string
		typ      ExchangeType
		bindings []binding
		key      string
		want     []string // queues that receive the message, by name
	}{
		{"direct exact key", Direct, []binding{{"a", "k"}, {"b", "other"}}, "k", []string{"a"}},
		{"direct several queues", Direct, []binding{{"b", "k"}, {"a", "k"}}, "k", []string{"a", "b"}},
		{"direct no match", Direct, []binding{{"a", "k"}}, "K", nil},
		{"direct empty key", Direct, []binding{{"a", ""}}, "", []string{"a"}},
		{"fanout ignores keys", Fanout, []binding{{"a", "x"}, {"b", ""}}, "zzz", []string{"a", "b"}},
		{"fanout two bindings one queue", Fanout, []binding{{"a", "1"}, {"a", "2"}}, "", []string{"a"}},
		{"topic star and hash", Topic, []binding{{"a", "log.*"}, {"b", "log.#"}, {"c", "*.error"}}, "log.error", []string{"a", "b", "c"}},
		{"topic one queue two patterns", Topic, []binding{{"a", "#"}, {"a", "log.*"}}, "log.x", []string{"a"}},
		{"topic no match", Topic, []binding{{"a", "log.*"}}, "log.a.b", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("e", tc.typ)
			for _, q := range []string{"a", "b", "c"} {
				h.queue(q, QueueOptions{})
			}
			for _, b := range tc.bindings {
				h.bind("e", b.q, b.key)
			}
			h.open(1)
			if tc.want == nil {
				h.mustRefuse(1, "e", tc.key, "m", "body", CodeNoRoute)
				if s := h.c.Stats().Exchanges[0]; s.Unroutable != 1 || s.Published != 0 {
					t.Fatalf("exchange counters %+v, want unroutable 1", s)
				}
				return
			}
			h.mustConfirm(1, "e", tc.key, "m", "body")
			var got []string
			for _, m := range h.c.Held() {
				if m.MessageID != "m" {
					t.Fatalf("unexpected held message %+v", m)
				}
				got = append(got, m.Queue)
			}
			if !equalStrings(got, tc.want) {
				t.Fatalf("message held by %v, want %v (each once)", got, tc.want)
			}
		})
	}
}
