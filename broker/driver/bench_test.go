package driver_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/driver"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

// BenchmarkLoopPublishDeliverAck moves 512-byte messages through two native
// sessions and the core (publish, confirm, deliver, ack) in batches of 64,
// once routed by driver.Loop ("loop": Host.Effect per effect, Host.Ready per
// touched connection, which writes the output at once, as the simulator
// does) and once by the bare drain-and-route loop of
// BenchmarkSessionPublishDeliverAck ("bare"). The difference is what the
// shared loop costs per message.
func BenchmarkLoopPublishDeliverAck(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchLoop(b, false) })
	b.Run("loop", func(b *testing.B) { benchLoop(b, true) })
}

// benchHost writes a touched connection's whole output at once.
type benchHost struct{ effects int }

func (h *benchHost) Effect(*broker.Effect, *protocol.Native, bool) { h.effects++ }
func (h *benchHost) Ready(*protocol.Native, time.Time)             {}

func benchLoop(b *testing.B, useLoop bool) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	core := broker.New(broker.Config{})
	cfg := protocol.Config{Heartbeat: -1, HandshakeTimeout: time.Hour}
	h := &benchHost{}
	loop := driver.New(core, h, driver.Options{})
	sessions := map[broker.ConnID]*protocol.Native{}
	conns := map[*protocol.Native]*driver.Conn[*protocol.Native]{}
	settle := func() {
		if useLoop {
			loop.Settle(now)
			return
		}
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
	feed := func(s *protocol.Native, in []byte) {
		var n int
		var err error
		if useLoop {
			n, err = conns[s].Feed(in, now)
		} else {
			n, err = s.Feed(in, now)
		}
		if err != nil || n != len(in) {
			b.Fatalf("feed: %d of %d, %v", n, len(in), err)
		}
		settle()
	}
	wrote := func(s *protocol.Native) {
		if useLoop {
			conns[s].Wrote(len(s.Output()), now)
		} else {
			s.Wrote(len(s.Output()), now)
		}
	}
	open := func(id broker.ConnID) *protocol.Native {
		s := protocol.NewNative(core, id, cfg, now)
		sessions[id] = s
		conns[s] = loop.Open(id, s, s)
		feed(s, wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion}))
		wrote(s)
		return s
	}
	pub, con := open(1), open(2)
	var in []byte
	in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "bench-x", Type: wire.ExchangeDirect})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "bench-q"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: "bench-x", Queue: "bench-q", Key: "k"})
	feed(pub, in)
	feed(con, wire.AppendConsume(nil, &wire.Consume{ReqID: 4, Queue: "bench-q", Prefetch: 1 << 20}))
	wrote(pub)
	wrote(con)

	const batch = 64
	body := bytes.Repeat([]byte{'b'}, 512)
	ids := make([][]byte, batch)
	var seq, tag uint64
	b.SetBytes(512)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter() // the machine is shared: CPU time, not wall time, is the figure
	for i := 0; i < b.N; i += batch {
		in = in[:0]
		for k := range batch {
			seq++
			ids[k] = fmt.Appendf(ids[k][:0], "m-%d", seq)
			in = wire.AppendPublish(in, &wire.Publish{Seq: seq, Exchange: []byte("bench-x"), RoutingKey: []byte("k"), MessageID: ids[k], Body: body})
		}
		feed(pub, in)
		wrote(pub)
		tag += batch
		wrote(con)
		feed(con, wire.AppendAck(in[:0], &wire.Ack{DeliveryTag: tag, Multiple: true}))
		now = now.Add(time.Millisecond)
	}
	b.StopTimer()
	cpu.Report(b, b.N)
	if q, ok := core.Queue("bench-q"); !ok || q.Acked != tag || q.Ready+q.Unacked != 0 {
		b.Fatalf("queue %+v, want %d acked and none left: the benchmark did not move every message", q, tag)
	}
	if useLoop && h.effects < int(tag) {
		b.Fatalf("the host saw %d effects for %d messages", h.effects, tag)
	}
}
