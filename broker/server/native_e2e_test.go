package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestNativeEndToEnd(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	c := dialNative(t, addr, wire.Hello{ClientName: "e2e"})
	var batch []byte
	batch = wire.AppendDeclareExchange(batch, &wire.DeclareExchange{ReqID: 1, Name: "logs", Type: wire.ExchangeTopic})
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 2, Name: "errors"})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 3, Exchange: "logs", Queue: "errors", Key: "*.error"})
	c.send(batch)
	for id := uint64(1); id <= 3; id++ {
		if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
			t.Fatalf("request %d answered %#v", id, f)
		}
	}
	batch = batch[:0]
	for seq := uint64(1); seq <= 5; seq++ {
		batch = append(batch, publishFrame(seq, "logs", "db.error", "e"+string(rune('0'+seq)), []byte("boom"))...)
	}
	batch = append(batch, publishFrame(6, "logs", "db.error", "e1", []byte("boom"))...) // repeated
	c.send(batch)
	var confirmed []uint64
	dup := false
	for len(confirmed) < 5 || !dup {
		switch f := c.next().(type) {
		case *wire.Confirm:
			for s := f.First; s <= f.Last; s++ {
				confirmed = append(confirmed, s)
			}
		case *wire.ConfirmDup:
			if f.Seq != 6 {
				t.Fatalf("ConfirmDup for seq %d, want 6", f.Seq)
			}
			dup = true
		default:
			t.Fatalf("unexpected %#v", f)
		}
	}
	if !reflect.DeepEqual(confirmed, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("confirmed %v", confirmed)
	}
	if q := queueOf(srv, "errors"); q.Ready != 5 {
		t.Fatalf("errors holds %d, want 5 (the repeated publish enqueued once)", q.Ready)
	}

	cons := dialNative(t, addr, wire.Hello{ClientName: "consumer"})
	cons.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 7, Queue: "errors", Prefetch: 10}))
	if f, ok := cons.next().(*wire.ConsumeOK); !ok || f.ReqID != 7 {
		t.Fatalf("consume answered %#v", f)
	}
	var last uint64
	for i := 1; i <= 5; i++ {
		d, ok := cons.next().(*wire.Deliver)
		if !ok || string(d.MessageID) != "e"+string(rune('0'+i)) || !bytes.Equal(d.Body, []byte("boom")) {
			t.Fatalf("delivery %d: %#v", i, d)
		}
		last = d.DeliveryTag
	}
	cons.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: last, Multiple: true}))
	cons.send(wire.AppendStats(nil, &wire.Stats{ReqID: 8}))
	st, ok := cons.next().(*wire.StatsOK)
	if !ok || st.ReqID != 8 {
		t.Fatalf("stats answered %#v", st)
	}
	var doc broker.Stats
	if err := json.Unmarshal(st.JSON, &doc); err != nil {
		t.Fatalf("stats JSON: %v", err)
	}
	for _, q := range doc.Queues {
		if q.Name == "errors" && (q.Acked != 5 || q.Ready+q.Unacked != 0) {
			t.Fatalf("after a multiple ack: %+v", q)
		}
	}
}

func TestNativeConsumerDisconnectRedeliversToAnother(t *testing.T) {
	_, addr := startServer(t, testConfig())
	a := dialNative(t, addr, wire.Hello{})
	a.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue}))
	a.next()
	p := dialNative(t, addr, wire.Hello{})
	p.send(publishFrame(1, broker.DefaultExchange, broker.DefaultRoutingKey, "x", []byte("payload")))
	p.next()
	if d, ok := a.next().(*wire.Deliver); !ok || string(d.MessageID) != "x" {
		t.Fatalf("a got %#v", d)
	}
	b := dialNative(t, addr, wire.Hello{})
	b.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue}))
	b.next()
	a.nc.Close()
	d, ok := b.next().(*wire.Deliver)
	if !ok || string(d.MessageID) != "x" || d.Flags&wire.FlagRedelivered == 0 || d.DeliveryCount != 2 {
		t.Fatalf("b got %#v, want the redelivery of x", d)
	}
}

func TestNativeStaleAckAfterTimeoutIsRefused(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	c := dialNative(t, addr, wire.Hello{})
	c.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, AckTimeoutMs: 100}))
	c.next()
	c.send(publishFrame(1, broker.DefaultExchange, broker.DefaultRoutingKey, "slow", nil))
	var first, second *wire.Deliver
	for second == nil {
		switch f := c.next().(type) {
		case *wire.Confirm:
		case *wire.Deliver:
			if first == nil {
				first = f
			} else {
				second = f
			}
		default:
			t.Fatalf("unexpected %#v", f)
		}
	}
	if second.DeliveryTag == first.DeliveryTag || second.DeliveryCount != 2 {
		t.Fatalf("redelivery %#v after %#v", second, first)
	}
	c.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: first.DeliveryTag}))
	r, ok := c.next().(*wire.AckRefused)
	if !ok || r.DeliveryTag != first.DeliveryTag || r.Code != uint16(broker.CodeUnknownDeliveryTag) {
		t.Fatalf("stale ack answered %#v", r)
	}
	c.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: second.DeliveryTag}))
	eventually(t, "the fresh ack", func() bool { return queueOf(srv, broker.DefaultQueue).Acked == 1 })
}

func TestNativeBadFramesCloseOnlyTheirConnection(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrameSize = 64 << 10
	cfg.MaxMessageSize = 32 << 10
	_, addr := startServer(t, cfg)
	good := dialNative(t, addr, wire.Hello{})
	cases := map[string]struct {
		in   []byte
		code broker.Code
	}{
		"oversized frame":    {append(binary.BigEndian.AppendUint32(nil, 1<<20), byte(wire.FramePublish)), broker.CodeTooLarge},
		"unknown frame type": {[]byte{0, 0, 0, 1, 0x7F}, broker.CodeUnknownCommand},
		"garbage payload":    {[]byte{0, 0, 0, 3, byte(wire.FrameAck), 0xFF, 0xFF}, broker.CodeMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			bad := dialNative(t, addr, wire.Hello{})
			bad.send(c.in)
			e, ok := bad.next().(*wire.Error)
			if !ok || e.ReqID != 0 || e.Code != uint16(c.code) {
				t.Fatalf("bad input answered %#v, want an Error with ReqID 0 and code %d", e, c.code)
			}
			expectClosed(t, bad.nc)
			good.send(publishFrame(good.seq(), broker.DefaultExchange, broker.DefaultRoutingKey, strings.ReplaceAll(name, " ", "-"), nil))
			if _, ok := good.next().(*wire.Confirm); !ok {
				t.Fatal("the other connection stopped working")
			}
		})
	}
}

func TestNativeHeartbeatDeathRequeues(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	// The client proposes 50 ms heartbeats and then never sends any.
	dead := dialNative(t, addr, wire.Hello{HeartbeatMs: 50})
	if dead.hello.HeartbeatMs != 50 {
		t.Fatalf("negotiated heartbeat %d ms, want the shorter proposal 50", dead.hello.HeartbeatMs)
	}
	dead.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue}))
	dead.next()
	dialText(t, addr).call("publish default_exchange default_key " + envelope("hb"))
	if d, ok := dead.next().(*wire.Deliver); !ok || string(d.MessageID) != "hb" {
		t.Fatalf("got %#v", d)
	}
	// Silent for 3 intervals: the server closes, the delivery requeues.
	expectClosed(t, dead.nc)
	eventually(t, "the delivery to requeue", func() bool {
		q := queueOf(srv, broker.DefaultQueue)
		return q.Ready == 1 && q.Unacked == 0
	})
}

func TestNativeServerSendsHeartbeats(t *testing.T) {
	cfg := testConfig()
	cfg.Heartbeat = 30 * time.Millisecond
	_, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{})
	c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	typ, _, err := c.r.ReadFrame()
	if err != nil || typ != wire.FrameHeartbeat {
		t.Fatalf("idle connection got %s, %v; want a heartbeat", typ, err)
	}
}

func TestShutdownClosesCleanlyAndRequeues(t *testing.T) {
	cfg := testConfig()
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := mustListen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	addr := l.Addr().String()
	c := dialNative(t, addr, wire.Hello{})
	c.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue}))
	c.next()
	text := dialText(t, addr)
	text.call("publish default_exchange default_key " + envelope("s"))
	if _, ok := c.next().(*wire.Deliver); !ok {
		t.Fatal("no delivery")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if f, ok := c.next().(*wire.Close); !ok || f.Code != uint16(broker.CodeShuttingDown) {
		t.Fatalf("native client got %#v, want Close", f)
	}
	expectClosed(t, c.nc)
	expectClosed(t, text.nc)
	if q := queueOf(srv, broker.DefaultQueue); q.Ready != 1 || q.Unacked != 0 {
		t.Fatalf("after shutdown: %+v, want the unacked delivery requeued", q)
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
}

func TestNativeConnectionStartErrors(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 100 * time.Millisecond
	_, addr := startServer(t, cfg)
	dial := func(first []byte) []byte {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(first)
		return expectClosed(t, nc)
	}
	other := wire.Preamble
	other[len(other)-1] = 9
	if got := dial(other[:]); !bytes.Equal(got, wire.Preamble[:]) {
		t.Errorf("preamble of version 9 answered %x, want our preamble", got)
	}
	if got := dial([]byte("AMQP\x00\x00\x09\x01")); string(got) != "AMQP\x00\x00\x09\x01" {
		t.Errorf("AMQP header answered %q, want the AMQP 0-9-1 header", got)
	}
	// Preamble but no Hello within the handshake timeout.
	got := dial(wire.AppendPreamble(nil))
	typ, payload, n, err := wire.SplitFrame(got, 0)
	var e wire.Error
	if err != nil || n == 0 || typ != wire.FrameError || wire.DecodeErrorFrame(payload, &e) != nil || e.Code != uint16(broker.CodeTimeout) {
		t.Errorf("no Hello: got %x, want an Error frame with code %d", got, broker.CodeTimeout)
	}
}
