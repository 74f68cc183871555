package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// frame is one frame the engine wrote.
type frame struct {
	typ     wire.FrameType
	payload []byte
}

// written splits the engine's output (taking it) into frames, skipping a
// leading preamble.
func written(t *testing.T, c *Conn) []frame {
	t.Helper()
	b := c.TakeOutput(nil)
	b = bytes.TrimPrefix(b, wire.Preamble[:])
	var out []frame
	for len(b) > 0 {
		typ, payload, n, err := wire.SplitFrame(b, 0)
		if err != nil || n == 0 {
			t.Fatalf("the engine wrote a broken frame stream: n=%d err=%v", n, err)
		}
		out = append(out, frame{typ, bytes.Clone(payload)})
		b = b[n:]
	}
	return out
}

// feed hands the engine every frame of b.
func feed(t *testing.T, c *Conn, b []byte) []Event {
	t.Helper()
	var evs []Event
	for len(b) > 0 {
		typ, payload, n, err := wire.SplitFrame(b, 0)
		if err != nil || n == 0 {
			t.Fatalf("test frames do not split: %v", err)
		}
		ev := c.Receive(typ, payload, t0)
		ev.Publishers = append([]*Publisher(nil), ev.Publishers...)
		evs = append(evs, ev)
		b = b[n:]
	}
	return evs
}

// upConn is a connection engine through its handshake, granted grant.
func upConn(t *testing.T, cfg ConnConfig, grant uint64) *Conn {
	t.Helper()
	c := NewConn(cfg)
	c.Handshake(nil, t0)
	written(t, c)
	ev := feed(t, c, wire.AppendHelloOK(nil, &wire.HelloOK{ServerName: "b", HeartbeatMs: 5000, Features: grant}))
	if ev[0].Kind != EventReady || !c.Ready() {
		t.Fatalf("HelloOK gave %+v, ready %v", ev[0], c.Ready())
	}
	return c
}

// publishSeqs decodes the publish frames written: (connection seq, id).
func publishSeqs(t *testing.T, fs []frame) map[uint64]string {
	t.Helper()
	got := map[uint64]string{}
	for _, f := range fs {
		var p wire.Publish
		switch f.typ {
		case wire.FramePublish:
			if err := wire.DecodePublish(f.payload, &p); err != nil {
				t.Fatal(err)
			}
		case wire.FramePublishRef:
			var r wire.PublishRef
			if err := wire.DecodePublishRef(f.payload, &r); err != nil {
				t.Fatal(err)
			}
			p = r.Publish
		default:
			continue
		}
		got[p.Seq] = string(p.MessageID)
	}
	return got
}

func TestConnHandshakeWritesHelloAndAuth(t *testing.T) {
	c := NewConn(ConnConfig{ClientName: "me", Heartbeat: 2 * time.Second, MaxFrameSize: 4096, Features: wire.FeatureSharedPrefixes})
	c.Handshake(&wire.Auth{Mechanism: "PLAIN", Response: wire.PlainResponse("u", "p")}, t0)
	out := c.Output()
	if !bytes.HasPrefix(out, wire.Preamble[:]) {
		t.Fatal("the handshake does not start with the preamble")
	}
	fs := written(t, c)
	if len(fs) != 2 || fs[0].typ != wire.FrameHello || fs[1].typ != wire.FrameAuth {
		t.Fatalf("handshake frames %+v, want Hello and Auth", fs)
	}
	var h wire.Hello
	if err := wire.DecodeHello(fs[0].payload, &h); err != nil {
		t.Fatal(err)
	}
	want := wire.Hello{Version: wire.ProtocolVersion, ClientName: "me", HeartbeatMs: 2000, MaxFrameSize: 4096,
		Features: wire.FeatureSharedPrefixes | wire.FeatureAuth}
	if h != want {
		t.Fatalf("Hello %+v, want %+v", h, want)
	}
	if c.Ready() {
		t.Fatal("ready before HelloOK")
	}
	// A refusal ends the handshake with the broker's code.
	ev := feed(t, c, wire.AppendError(nil, &wire.Error{Code: 403, Message: "no"}))[0]
	if ev.Kind != EventClosed || ev.Err != nil || ev.Code != 403 || ev.Reason != "no" || c.Ready() {
		t.Fatalf("refusal gave %+v, ready %v", ev, c.Ready())
	}
}

func TestConnGrantsOnlyWhatWasAskedFor(t *testing.T) {
	c := upConn(t, ConnConfig{Features: wire.FeatureRejectReasons}, wire.FeatureRejectReasons|wire.FeatureSharedPrefixes)
	if !c.Granted(wire.FeatureRejectReasons) || c.Granted(wire.FeatureSharedPrefixes) {
		t.Fatal("the engine must use only features both sides named")
	}
	// Shared prefixes were not negotiated: a Prefix frame is a violation.
	ev := feed(t, c, wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("hdr")}))[0]
	if ev.Kind != EventClosed || !ev.Violation || c.Ready() {
		t.Fatalf("Prefix without the feature gave %+v", ev)
	}
}

// Two publishers share the connection's sequence: a Confirm range is
// mapped back to each one's own numbers, and each is told once.
func TestConnMapsConfirmsToTheirPublishers(t *testing.T) {
	c := upConn(t, ConnConfig{}, 0)
	p1, p2 := NewPublisher(PublisherConfig{}), NewPublisher(PublisherConfig{})
	c.AddPublisher(p1, t0)
	c.AddPublisher(p2, t0)
	for _, id := range []string{"a1", "a2"} {
		_ = p1.Add(Message{ID: id, Exchange: "x", Body: []byte(id)})
	}
	c.Pump(p1, t0)
	_ = p2.Add(Message{ID: "b1", Exchange: "x", Body: []byte("b1")})
	c.Pump(p2, t0)
	_ = p1.Add(Message{ID: "a3", Exchange: "x", Body: []byte("a3")})
	c.Pump(p1, t0)
	got := publishSeqs(t, written(t, c))
	want := map[uint64]string{1: "a1", 2: "a2", 3: "b1", 4: "a3"}
	if len(got) != len(want) {
		t.Fatalf("connection seqs %v, want %v", got, want)
	}
	for s, id := range want {
		if got[s] != id {
			t.Fatalf("connection seqs %v, want %v", got, want)
		}
	}

	ev := feed(t, c, wire.AppendConfirm(nil, &wire.Confirm{First: 2, Last: 3}))[0]
	if ev.Kind != EventAnswered || len(ev.Publishers) != 2 || ev.First != 2 || ev.Last != 3 {
		t.Fatalf("confirm 2..3 gave %+v", ev)
	}
	ids := func(p *Publisher) []string {
		var out []string
		for _, r := range p.Resolutions() {
			out = append(out, r.ID+":"+r.Outcome.String())
		}
		return out
	}
	if r1, r2 := ids(p1), ids(p2); len(r1) != 1 || r1[0] != "a2:confirmed" || len(r2) != 1 || r2[0] != "b1:confirmed" {
		t.Fatalf("resolutions %v and %v, want a2 and b1 confirmed", r1, r2)
	}
	// The same range again names nothing in flight.
	if ev := feed(t, c, wire.AppendConfirm(nil, &wire.Confirm{First: 2, Last: 3}))[0]; len(ev.Publishers) != 0 {
		t.Fatalf("a repeated confirm touched %d publishers", len(ev.Publishers))
	}
	evs := feed(t, c, append(wire.AppendNack(nil, &wire.Nack{Seq: 4, Code: 301, Reason: "full"}),
		wire.AppendConfirmDup(nil, &wire.ConfirmDup{Seq: 1})...))
	if evs[0].Kind != EventAnswered || len(evs[0].Publishers) != 1 || evs[0].Publishers[0] != p1 || evs[0].Code != 301 {
		t.Fatalf("nack 4 gave %+v", evs[0])
	}
	if r := ids(p1); len(r) != 2 || r[0] != "a3:refused" || r[1] != "a1:duplicate" {
		t.Fatalf("resolutions %v, want a3 refused then a1 duplicate", r)
	}
}

// The planted mutation must change the mapping, or the sweep that is
// meant to catch it proves nothing.
func TestConnConfirmMutationConfirmsOneTooMany(t *testing.T) {
	for _, mutate := range []bool{false, true} {
		c := upConn(t, ConnConfig{MutationConfirmOffByOne: mutate}, 0)
		p := NewPublisher(PublisherConfig{})
		c.AddPublisher(p, t0)
		_ = p.Add(Message{ID: "m1", Exchange: "x"})
		_ = p.Add(Message{ID: "m2", Exchange: "x"})
		c.Pump(p, t0)
		feed(t, c, wire.AppendConfirm(nil, &wire.Confirm{First: 1, Last: 1}))
		want := 1
		if mutate {
			want = 2
		}
		if n := len(p.Resolutions()); n != want {
			t.Fatalf("mutation %v: confirm 1..1 resolved %d messages, want %d", mutate, n, want)
		}
	}
}

// After a reconnect the connection's numbering starts again, what was in
// flight goes out again first, and answers of the old transport arriving
// while down change nothing.
func TestConnResendsAfterReconnectWithFreshNumbers(t *testing.T) {
	c := upConn(t, ConnConfig{}, 0)
	p := NewPublisher(PublisherConfig{})
	c.AddPublisher(p, t0)
	for _, id := range []string{"m1", "m2", "m3"} {
		_ = p.Add(Message{ID: id, Exchange: "x"})
	}
	c.Pump(p, t0)
	written(t, c)
	feed(t, c, wire.AppendConfirm(nil, &wire.Confirm{First: 1, Last: 1}))
	c.Pump(p, t0)
	c.Queue(wire.AppendHeartbeat)
	c.Disconnected(t0)
	if len(c.Output()) != 0 {
		t.Fatal("output of a dead transport survived Disconnected")
	}
	if ev := c.Receive(wire.FrameConfirm, wire.AppendConfirm(nil, &wire.Confirm{First: 2, Last: 3})[wire.FrameHeaderSize:], t0); ev.Kind != EventIgnored {
		t.Fatalf("a frame while down gave %+v", ev)
	}
	if c.Pump(p, t0) != nil {
		t.Fatal("pumped while down")
	}
	c.Handshake(nil, t0)
	written(t, c)
	feed(t, c, wire.AppendHelloOK(nil, &wire.HelloOK{}))
	got := publishSeqs(t, written(t, c))
	if len(got) != 0 {
		t.Fatalf("publishes went out before the driver pumped: %v", got)
	}
	c.Pump(p, t0)
	got = publishSeqs(t, written(t, c))
	if len(got) != 2 || got[1] != "m2" || got[2] != "m3" {
		t.Fatalf("resends %v, want m2 and m3 as 1 and 2", got)
	}
	if p.Resolutions(); p.Pending() != 2 {
		t.Fatalf("pending %d, want 2", p.Pending())
	}
}

func TestConnResolvesSharedPrefixes(t *testing.T) {
	c := upConn(t, ConnConfig{Features: wire.FeatureSharedPrefixes}, wire.FeatureSharedPrefixes)
	// Outbound: the second message refers to the prefix defined by the first.
	p := NewPublisher(PublisherConfig{})
	c.AddPublisher(p, t0)
	pre := NewPrefix([]byte("header"))
	_ = p.Add(Message{ID: "m1", Exchange: "x", Prefix: pre, Body: []byte("one")})
	_ = p.Add(Message{ID: "m2", Exchange: "x", Prefix: pre, Body: []byte("two")})
	c.Pump(p, t0)
	var types []wire.FrameType
	for _, f := range written(t, c) {
		types = append(types, f.typ)
	}
	if len(types) != 3 || types[0] != wire.FramePrefix || types[1] != wire.FramePublishRef || types[2] != wire.FramePublishRef {
		t.Fatalf("frames %v, want Prefix, PublishRef, PublishRef", types)
	}
	// Inbound: a DeliverRef gets the prefix it names; an unknown id is a
	// violation that ends the connection.
	in := wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("hdr|")})
	in = wire.AppendDeliverRef(in, &wire.DeliverRef{PrefixID: 1, Deliver: wire.Deliver{DeliveryTag: 1, MessageID: []byte("m"), Body: []byte("rest")}})
	evs := feed(t, c, in)
	if evs[0].Kind != EventPrefix || evs[0].PrefixID != 1 {
		t.Fatalf("Prefix gave %+v", evs[0])
	}
	if evs[1].Kind != EventDeliver || string(evs[1].Prefix) != "hdr|" || string(evs[1].Deliver.Body) != "rest" {
		t.Fatalf("DeliverRef gave %+v", evs[1])
	}
	ev := feed(t, c, wire.AppendDeliverRef(nil, &wire.DeliverRef{PrefixID: 7, Deliver: wire.Deliver{DeliveryTag: 2, MessageID: []byte("m")}}))[0]
	if ev.Kind != EventClosed || !ev.Violation || c.Ready() {
		t.Fatalf("DeliverRef to an unknown prefix gave %+v", ev)
	}
}

func TestConnSettlementsCarryReasonsOnlyWhenGranted(t *testing.T) {
	for _, grant := range []uint64{0, wire.FeatureRejectReasons} {
		c := upConn(t, ConnConfig{Features: wire.FeatureRejectReasons}, grant)
		ref, dec := c.Consumer().Handle(&wire.Deliver{DeliveryTag: 1, MessageID: []byte("m")})
		if dec != Process {
			t.Fatalf("decision %v", dec)
		}
		if err := c.Consumer().SettleReason(ref, Permanent, wire.ReasonTampered); err != nil {
			t.Fatal(err)
		}
		st := c.FlushSettlements()
		fs := written(t, c)
		if len(st) != 1 || len(fs) != 1 || fs[0].typ != wire.FrameReject {
			t.Fatalf("grant %d: settlements %+v, frames %+v", grant, st, fs)
		}
		var r wire.Reject
		if err := wire.DecodeReject(fs[0].payload, &r); err != nil {
			t.Fatal(err)
		}
		want := wire.ReasonNone
		if grant != 0 {
			want = wire.ReasonTampered
		}
		if r.Reason != want {
			t.Fatalf("grant %d: reject reason %v, want %v", grant, r.Reason, want)
		}
	}
}

func TestConnMalformedFrameEndsTheConnection(t *testing.T) {
	c := upConn(t, ConnConfig{}, 0)
	ev := c.Receive(wire.FrameConfirm, []byte{0xff}, t0)
	if ev.Kind != EventClosed || ev.Err == nil || ev.Violation || c.Ready() {
		t.Fatalf("a malformed Confirm gave %+v, ready %v", ev, c.Ready())
	}
	c = upConn(t, ConnConfig{}, 0)
	evs := feed(t, c, append(wire.AppendBlocked(nil, &wire.Blocked{Reason: "mem"}), wire.AppendBlocked(nil, &wire.Blocked{Reason: "mem"})...))
	if evs[0].Kind != EventBlocked || evs[1].Kind != EventIgnored || !c.Blocked() {
		t.Fatalf("Blocked twice gave %v then %v", evs[0].Kind, evs[1].Kind)
	}
	ev = feed(t, c, wire.AppendClose(nil, &wire.Close{Code: 320, Reason: "shutting down"}))[0]
	if ev.Kind != EventClosed || ev.Err != nil || ev.Code != 320 || c.Ready() || c.Blocked() {
		t.Fatalf("Close gave %+v", ev)
	}
}

func TestConnPutBackKeepsOrder(t *testing.T) {
	c := NewConn(ConnConfig{})
	c.Queue(func(b []byte) []byte { return append(b, "abcdef"...) })
	buf := c.TakeOutput(nil)
	c.Queue(func(b []byte) []byte { return append(b, "gh"...) })
	spare := c.PutBack(buf[3:]) // "abc" was written
	if string(c.Output()) != "defgh" || len(spare) != 0 {
		t.Fatalf("output %q after a partial write, spare %q", c.Output(), spare)
	}
}

// The heartbeat rule: a Heartbeat only in an interval with no other
// output, and silence for three intervals (the handshake's too) reported.
func TestConnHeartbeatRule(t *testing.T) {
	c := NewConn(ConnConfig{Heartbeat: 10 * time.Second})
	c.Handshake(nil, t0)
	written(t, c)
	if at, ok := c.NextDeadline(); !ok || !at.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("handshake deadline %v %v, want three proposed intervals", at, ok)
	}
	if c.Tick(t0.Add(29*time.Second)) || !c.Tick(t0.Add(30*time.Second)) {
		t.Fatal("a broker silent through the handshake must be reported at three intervals, not before")
	}
	c.Handshake(nil, t0)
	written(t, c)
	c.Receive(wire.FrameHelloOK, wire.AppendHelloOK(nil, &wire.HelloOK{HeartbeatMs: 1000})[wire.FrameHeaderSize:], t0)
	if c.Heartbeat() != time.Second {
		t.Fatalf("interval %v, want the broker's 1s", c.Heartbeat())
	}
	beats := func() int {
		n := 0
		for _, f := range written(t, c) {
			if f.typ == wire.FrameHeartbeat {
				n++
			}
		}
		return n
	}
	// The first interval carried the handshake: no heartbeat.
	at, _ := c.NextDeadline()
	if !at.Equal(t0.Add(time.Second)) || c.Tick(at) || beats() != 0 {
		t.Fatalf("first beat at %v sent a heartbeat or reported silence", at)
	}
	// An idle interval gets one.
	at, _ = c.NextDeadline()
	c.Tick(at)
	if beats() != 1 {
		t.Fatal("an idle interval got no heartbeat")
	}
	// An interval with other output does not.
	c.Queue(func(b []byte) []byte { return wire.AppendFetch(b, &wire.Fetch{ReqID: 1, Queue: "q"}) })
	at, _ = c.NextDeadline()
	c.Tick(at)
	if beats() != 0 {
		t.Fatal("a heartbeat went out in an interval that carried a frame")
	}
	// Hearing from the broker keeps it alive; three silent intervals do not.
	c.Receive(wire.FrameHeartbeat, nil, at)
	if c.Tick(at.Add(2999 * time.Millisecond)) {
		t.Fatal("silent before three intervals")
	}
	if !c.Tick(at.Add(3 * time.Second)) {
		t.Fatal("three silent intervals not reported")
	}
	c.Disconnected(at)
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("a deadline while down")
	}
}
