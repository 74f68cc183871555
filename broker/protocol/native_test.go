package protocol_test

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// openNative returns a native session past Hello/HelloOK.
func openNative(t *testing.T, w *world) (broker.ConnID, *protocol.Native) {
	t.Helper()
	id, s := w.native()
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test"})
	w.feed(s, in)
	fs := frames(t, w.take(s))
	if len(fs) != 1 {
		t.Fatalf("hello answered with %d frames", len(fs))
	}
	ok, isOK := fs[0].(*wire.HelloOK)
	if !isOK || ok.HeartbeatMs != 1000 || ok.MaxMessageSize != broker.DefaultMaxMessageSize {
		t.Fatalf("hello answered with %#v", fs[0])
	}
	return id, s
}

func publishFrame(seq uint64, id string) []byte {
	return wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(broker.DefaultExchange),
		RoutingKey: []byte(broker.DefaultRoutingKey), MessageID: []byte(id), Body: []byte("body-" + id)})
}

func TestNativeConfirmsCoalesceIntoRanges(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	var in []byte
	in = append(in, publishFrame(1, "a")...)
	in = append(in, publishFrame(2, "b")...)
	in = append(in, publishFrame(3, "c")...)
	in = append(in, publishFrame(4, "a")...) // duplicate
	in = append(in, publishFrame(5, "d")...)
	in = wire.AppendPublish(in, &wire.Publish{Seq: 6, Exchange: []byte("nowhere"), MessageID: []byte("e")})
	in = append(in, publishFrame(7, "f")...)
	in = append(in, publishFrame(8, "g")...)
	w.feed(s, in)
	got := frames(t, w.take(s))
	want := []wire.Frame{
		&wire.Confirm{First: 1, Last: 3},
		&wire.ConfirmDup{Seq: 4},
		&wire.Confirm{First: 5, Last: 5},
		&wire.Nack{Seq: 6, Code: uint16(broker.CodeExchangeNotFound)},
		&wire.Confirm{First: 7, Last: 8},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames %#v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if n, ok := got[i].(*wire.Nack); ok {
			if n.Reason == "" {
				t.Errorf("Nack without a reason")
			}
			n.Reason = ""
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("frame %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
}

func TestNativeRequestsAnswerWithTheirReqID(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	var in []byte
	in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "x", Type: wire.ExchangeFanout})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "q"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: "x", Queue: "q"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 4, Exchange: "missing", Queue: "q"})
	in = wire.AppendFetch(in, &wire.Fetch{ReqID: 5, Queue: "q"})
	in = wire.AppendStats(in, &wire.Stats{ReqID: 6})
	w.feed(s, in)
	got := frames(t, w.take(s))
	if len(got) != 6 {
		t.Fatalf("got %d frames, want 6: %#v", len(got), got)
	}
	for i, want := range []wire.Frame{&wire.OK{ReqID: 1}, &wire.OK{ReqID: 2}, &wire.OK{ReqID: 3}} {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("frame %d: %#v, want %#v", i, got[i], want)
		}
	}
	if e, ok := got[3].(*wire.Error); !ok || e.ReqID != 4 || e.Code != uint16(broker.CodeExchangeNotFound) {
		t.Errorf("bind to a missing exchange: %#v", got[3])
	}
	if e, ok := got[4].(*wire.FetchEmpty); !ok || e.ReqID != 5 {
		t.Errorf("fetch of an empty queue: %#v", got[4])
	}
	st, ok := got[5].(*wire.StatsOK)
	if !ok || st.ReqID != 6 {
		t.Fatalf("stats: %#v", got[5])
	}
	var doc broker.Stats
	if err := json.Unmarshal(st.JSON, &doc); err != nil || doc.Connections != 1 {
		t.Errorf("stats JSON %s: %v", st.JSON, err)
	}
}

func TestNativeConsumeDeliverAckAndStaleAck(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	w.feed(s, publishFrame(1, "m"))
	w.take(s)
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 9, Queue: broker.DefaultQueue, Prefetch: 10, AckTimeoutMs: 1000}))
	got := frames(t, w.take(s))
	if len(got) != 2 {
		t.Fatalf("consume: %#v", got)
	}
	if ok, isOK := got[0].(*wire.ConsumeOK); !isOK || ok.ReqID != 9 || ok.ConsumerTag == "" {
		t.Fatalf("ConsumeOK: %#v", got[0])
	}
	d, isD := got[1].(*wire.Deliver)
	if !isD || string(d.MessageID) != "m" || string(d.Body) != "body-m" || d.DeliveryCount != 1 {
		t.Fatalf("Deliver: %#v", got[1])
	}
	// The ack timeout passes: the message is redelivered with a new tag.
	w.advance(1500 * time.Millisecond)
	w.feed(s, wire.AppendHeartbeat(nil)) // keep the connection alive
	redo := frames(t, w.take(s))
	var d2 *wire.Deliver
	for _, f := range redo {
		if dd, ok := f.(*wire.Deliver); ok {
			d2 = dd
		}
	}
	if d2 == nil || d2.DeliveryTag == d.DeliveryTag || d2.Flags&wire.FlagRedelivered == 0 {
		t.Fatalf("after the ack timeout: %#v, want a redelivery with a new tag", redo)
	}
	w.feed(s, wire.AppendAck(nil, &wire.Ack{DeliveryTag: d.DeliveryTag}))
	refused := frames(t, w.take(s))
	if len(refused) != 1 {
		t.Fatalf("stale ack: %#v", refused)
	}
	if r, ok := refused[0].(*wire.AckRefused); !ok || r.DeliveryTag != d.DeliveryTag || r.Code != uint16(broker.CodeUnknownDeliveryTag) {
		t.Fatalf("stale ack answered %#v, want AckRefused", refused[0])
	}
	w.feed(s, wire.AppendAck(nil, &wire.Ack{DeliveryTag: d2.DeliveryTag}))
	if out := w.take(s); len(out) != 0 {
		t.Fatalf("a good ack is silent, got %#v", frames(t, out))
	}
	if q := queueStats(w, broker.DefaultQueue); q.Ready+q.Unacked != 0 {
		t.Fatalf("queue not empty after ack: %+v", q)
	}
}

func TestNativeBadInputClosesWithAnError(t *testing.T) {
	hello := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion})
	huge := binary.BigEndian.AppendUint32(nil, 1<<30)
	cases := []struct {
		name string
		in   []byte
		code broker.Code
	}{
		{"unknown frame type", append(append([]byte(nil), hello...), 0, 0, 0, 1, 0x7E), broker.CodeUnknownCommand},
		{"oversized frame", append(append([]byte(nil), hello...), append(huge, 0x20)...), broker.CodeTooLarge},
		{"malformed publish", append(append([]byte(nil), hello...), 0, 0, 0, 2, byte(wire.FramePublish), 0xFF), broker.CodeMalformed},
		{"publish before hello", append(wire.AppendPreamble(nil), publishFrame(1, "x")...), broker.CodeProtocol},
		{"server-only frame", append(append([]byte(nil), hello...), wire.AppendOK(nil, &wire.OK{ReqID: 1})...), broker.CodeProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			_, s := w.native()
			_, other := openNative(t, w)
			_, err := s.Feed(c.in, w.now)
			w.settle()
			if err == nil {
				t.Fatal("bad input accepted")
			}
			if closed, _ := s.Closed(); !closed {
				t.Fatal("session not closed")
			}
			fs := frames(t, s.Output())
			last, ok := fs[len(fs)-1].(*wire.Error)
			if !ok || last.ReqID != 0 || last.Code != uint16(c.code) {
				t.Fatalf("last frame %#v, want Error ReqID 0 code %d", fs[len(fs)-1], c.code)
			}
			// Another connection is unaffected.
			w.feed(other, publishFrame(1, "fine"))
			if got := frames(t, w.take(other)); len(got) != 1 || !reflect.DeepEqual(got[0], &wire.Confirm{First: 1, Last: 1}) {
				t.Fatalf("other connection: %#v", got)
			}
		})
	}
}

func TestNativeWrongPreambleVersionIsAnsweredWithOurs(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.native()
	bad := wire.Preamble
	bad[len(bad)-1] = 99
	if _, err := s.Feed(bad[:], w.now); err == nil {
		t.Fatal("wrong version accepted")
	}
	if got := s.Output(); string(got) != string(wire.Preamble[:]) {
		t.Fatalf("answer %x, want our preamble", got)
	}
}

func TestNativeHeartbeats(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, pub := w.text()
	_, s := openNative(t, w)
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue}))
	w.take(s)
	w.feed(pub, []byte("publish default_exchange default_key "+envelope("hb")+"\n"))
	w.take(s) // the delivery

	if dl, ok := s.NextDeadline(); !ok || dl != w.now.Add(time.Second) {
		t.Fatalf("NextDeadline = %v %v, want a heartbeat in 1s", dl, ok)
	}
	w.advance(time.Second)
	if got := frames(t, w.take(s)); len(got) != 1 || got[0].FrameType() != wire.FrameHeartbeat {
		t.Fatalf("after 1s of quiet: %#v, want a heartbeat", got)
	}
	w.advance(time.Second)
	w.take(s)
	if closed, _ := s.Closed(); closed {
		t.Fatal("closed before 3 silent intervals")
	}
	w.advance(time.Second)
	closed, why := s.Closed()
	if !closed {
		t.Fatal("peer silent for 3 intervals is not closed")
	}
	t.Logf("closed: %s", why)
	// The driver closes the transport; the delivery requeues.
	for id, sess := range w.sessions {
		if sess == protocol.Session(s) {
			w.closeConn(id)
		}
	}
	if q := queueStats(w, broker.DefaultQueue); q.Ready != 1 || q.Unacked != 0 {
		t.Fatalf("after heartbeat death: %+v, want the message ready again", q)
	}
}

func TestNativeHandshakeTimeout(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.native()
	w.feed(s, wire.AppendPreamble(nil))
	w.advance(5 * time.Second)
	if closed, _ := s.Closed(); !closed {
		t.Fatal("no Hello after the handshake timeout, still open")
	}
	fs := frames(t, s.Output())
	if e, ok := fs[0].(*wire.Error); !ok || e.Code != uint16(broker.CodeTimeout) {
		t.Fatalf("got %#v, want an Error with CodeTimeout", fs)
	}
}

func TestNativeFramesSplitAcrossFeeds(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	in := append(publishFrame(1, "a"), publishFrame(2, "b")...)
	total := 0
	buf := []byte(nil)
	for i := 0; i < len(in); i++ {
		buf = append(buf, in[i])
		n, err := s.Feed(buf, w.now)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
		total += n
	}
	w.settle()
	if total != len(in) {
		t.Fatalf("consumed %d of %d", total, len(in))
	}
	if got := frames(t, w.take(s)); len(got) != 1 || !reflect.DeepEqual(got[0], &wire.Confirm{First: 1, Last: 2}) {
		t.Fatalf("got %#v", got)
	}
}

func TestNativeShutdownSendsClose(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	s.Shutdown(broker.CodeShuttingDown, "bye")
	fs := frames(t, s.Output())
	if c, ok := fs[0].(*wire.Close); !ok || c.Code != uint16(broker.CodeShuttingDown) {
		t.Fatalf("got %#v", fs)
	}
}

func TestNativeHelloNegotiation(t *testing.T) {
	cases := []struct {
		name              string
		hello             wire.Hello
		wantHB, wantFrame uint64
	}{
		{"server defaults", wire.Hello{Version: 1}, 1000, protocol.DefaultMaxFrameSize},
		{"shorter heartbeat wins", wire.Hello{Version: 1, HeartbeatMs: 250}, 250, protocol.DefaultMaxFrameSize},
		{"longer heartbeat loses", wire.Hello{Version: 1, HeartbeatMs: 60000}, 1000, protocol.DefaultMaxFrameSize},
		{"smaller frame wins", wire.Hello{Version: 1, MaxFrameSize: 8192}, 1000, 8192},
		{"never below the minimum", wire.Hello{Version: 1, MaxFrameSize: 100}, 1000, wire.MinMaxFrameSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			_, s := w.native()
			w.feed(s, wire.AppendHello(wire.AppendPreamble(nil), &c.hello))
			fs := frames(t, w.take(s))
			ok, isOK := fs[0].(*wire.HelloOK)
			if !isOK || ok.HeartbeatMs != c.wantHB || ok.MaxFrameSize != c.wantFrame || ok.ServerName != protocol.DefaultServerName {
				t.Fatalf("HelloOK %#v, want heartbeat %d frame %d", fs[0], c.wantHB, c.wantFrame)
			}
		})
	}
	w := newWorld(t, broker.Config{})
	_, s := w.native()
	if _, err := s.Feed(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: 2}), w.now); err == nil {
		t.Fatal("Hello of another version accepted")
	}
	fs := frames(t, s.Output())
	if e, ok := fs[0].(*wire.Error); !ok || e.Code != uint16(broker.CodeProtocol) {
		t.Fatalf("version mismatch answered %#v", fs)
	}
}

// A duplicated (or overtaken) Publish frame — seq not above the greatest seq
// the session has handled — is ignored: a publish refused as queue-full must
// not be enqueued by its copy once the queue has room, and no seq is answered
// twice. (Found by the simulator on a link that duplicates frames.)
func TestNativeIgnoresPublishSeqsAlreadyHandled(t *testing.T) {
	w := newWorld(t, broker.Config{})
	if err := w.core.DeclareQueue("small", broker.QueueOptions{MaxLength: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.core.Bind(broker.DefaultExchange, "small", "small"); err != nil {
		t.Fatal(err)
	}
	_, s := openNative(t, w)
	pub := func(seq uint64, id string) []byte {
		return wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(broker.DefaultExchange),
			RoutingKey: []byte("small"), MessageID: []byte(id), Body: []byte("x")})
	}
	w.feed(s, append(pub(1, "a"), pub(2, "b")...))
	got := frames(t, w.take(s))
	if len(got) != 2 {
		t.Fatalf("got %#v, want a confirm and a nack", got)
	}
	if n, ok := got[1].(*wire.Nack); !ok || n.Seq != 2 || n.Code != uint16(broker.CodeQueueFull) {
		t.Fatalf("second publish answered %#v, want Nack queue full", got[1])
	}
	// Make room, then deliver a copy of the refused frame and a late copy of
	// the first: neither may be handled.
	if _, err := w.core.DeleteQueue("small", w.now); err != nil {
		t.Fatal(err)
	}
	if err := w.core.DeclareQueue("small", broker.QueueOptions{MaxLength: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.core.Bind(broker.DefaultExchange, "small", "small"); err != nil {
		t.Fatal(err)
	}
	w.feed(s, append(pub(2, "b"), pub(1, "a")...))
	if out := w.take(s); len(out) != 0 {
		t.Fatalf("stale publishes answered: %#v", frames(t, out))
	}
	if q, _ := w.core.Queue("small"); q.Ready != 0 {
		t.Fatalf("a refused publish was enqueued by its copy: %d ready", q.Ready)
	}
	// The next seq is handled as usual.
	w.feed(s, pub(3, "c"))
	if got := frames(t, w.take(s)); len(got) != 1 || !reflect.DeepEqual(got[0], &wire.Confirm{First: 3, Last: 3}) {
		t.Fatalf("seq 3 answered %#v", got)
	}
}

func TestNativePublishSeqZeroIsAProtocolError(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	if _, err := s.Feed(publishFrame(0, "z"), w.now); err == nil {
		t.Fatal("Feed accepted a publish with seq 0")
	}
	got := frames(t, w.take(s))
	if len(got) != 1 {
		t.Fatalf("got %#v, want one Error frame", got)
	}
	if e, ok := got[0].(*wire.Error); !ok || e.Code != uint16(broker.CodeInvalidArgument) {
		t.Fatalf("got %#v, want Error code %d", got[0], broker.CodeInvalidArgument)
	}
	if closed, _ := s.Closed(); !closed {
		t.Fatal("session still open after seq 0")
	}
}
