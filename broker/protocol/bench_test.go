package protocol_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// BenchmarkSessionPublishDeliverAck measures one 512-byte message through
// two native sessions and the core (publish, confirm, deliver, ack) in
// batches of 64, as an anonymous connection on "/" and as an authenticated
// user on a vhost whose permissions are regular expressions: the difference
// is what authorization costs per message (vhost qualification of the
// exchange name, the cached publish verdict, local names in deliveries).
func BenchmarkSessionPublishDeliverAck(b *testing.B) {
	b.Run("anonymous", func(b *testing.B) { benchSession(b, false) })
	b.Run("authorized", func(b *testing.B) { benchSession(b, true) })
}

func benchSession(b *testing.B, authorized bool) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	core := broker.New(broker.Config{})
	cfg := protocol.Config{Heartbeat: -1, HandshakeTimeout: time.Hour}
	var auth *wire.Auth
	if authorized {
		db, err := access.NewDB(&access.File{Version: access.FileVersion, Users: []access.User{{
			Name: "bench", PasswordHash: "unused: the benchmark is its own driver",
			Permissions: map[string]access.Permissions{"tenant": {Configure: "bench-.*", Write: "bench-(x|q)", Read: "bench-.*", Deny: access.Deny{Write: "bench-audit.*"}}},
		}}}, access.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Users = func() *access.DB { return db }
		auth = &wire.Auth{Mechanism: "PLAIN", Vhost: "tenant", Response: wire.PlainResponse("bench", "pw")}
	}
	sessions := map[broker.ConnID]*protocol.Native{}
	route := func() {
		for {
			effs := core.Drain()
			if len(effs) == 0 {
				return
			}
			for _, e := range effs {
				sessions[e.Conn].HandleEffect(e, now)
			}
		}
	}
	open := func(id broker.ConnID) *protocol.Native {
		s := protocol.NewNative(core, id, cfg, now)
		sessions[id] = s
		hello := wire.Hello{Version: wire.ProtocolVersion}
		in := wire.AppendPreamble(nil)
		if auth != nil {
			hello.Features = wire.FeatureAuth
			in = wire.AppendAuth(wire.AppendHello(in, &hello), auth)
		} else {
			in = wire.AppendHello(in, &hello)
		}
		if _, err := s.Feed(in, now); err != nil {
			b.Fatal(err)
		}
		if _, ok := s.TakePasswordCheck(); ok {
			s.PasswordChecked(true, now) // the driver's verdict; hashing is not what is measured
		}
		if !bytes.Contains(s.Output(), []byte{byte(wire.FrameHelloOK)}) {
			b.Fatalf("handshake: %x", s.Output())
		}
		s.Wrote(len(s.Output()), now)
		return s
	}
	feed := func(s *protocol.Native, in []byte) {
		if n, err := s.Feed(in, now); err != nil || n != len(in) {
			b.Fatalf("feed: %d of %d, %v", n, len(in), err)
		}
		route()
	}
	pub, con := open(1), open(2)
	var in []byte
	in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "bench-x", Type: wire.ExchangeDirect})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "bench-q"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: "bench-x", Queue: "bench-q", Key: "k"})
	feed(pub, in)
	feed(con, wire.AppendConsume(nil, &wire.Consume{ReqID: 4, Queue: "bench-q", Prefetch: 1 << 20}))
	if out := string(pub.Output()) + string(con.Output()); bytes.Contains([]byte(out), []byte{byte(wire.FrameError)}) && bytes.Contains([]byte(out), []byte("refused")) {
		b.Fatalf("topology refused: %q", out)
	}
	pub.Wrote(len(pub.Output()), now)
	con.Wrote(len(con.Output()), now)

	const batch = 64
	body := bytes.Repeat([]byte{'b'}, 512)
	ids := make([][]byte, batch)
	var seq, tag uint64
	b.SetBytes(512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		in = in[:0]
		for k := range batch {
			seq++
			ids[k] = fmt.Appendf(ids[k][:0], "m-%d", seq)
			in = wire.AppendPublish(in, &wire.Publish{Seq: seq, Exchange: []byte("bench-x"), RoutingKey: []byte("k"), MessageID: ids[k], Body: body})
		}
		feed(pub, in)
		pub.Wrote(len(pub.Output()), now)
		tag += batch
		con.Wrote(len(con.Output()), now)
		feed(con, wire.AppendAck(in[:0], &wire.Ack{DeliveryTag: tag, Multiple: true}))
		now = now.Add(time.Millisecond)
	}
	b.StopTimer()
	qname := "bench-q"
	if authorized {
		qname = broker.Qualify("tenant", qname)
	}
	if q, ok := core.Queue(qname); !ok || q.Acked != tag || q.Ready+q.Unacked != 0 {
		b.Fatalf("queue %+v, want %d acked and none left: the benchmark did not move every message", q, tag)
	}
}
