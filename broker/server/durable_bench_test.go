package server

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// BenchmarkDurablePublish: one native publisher over loopback with 256
// publishes in flight, 512-byte bodies, to an in-memory queue and to a
// durable queue on the real disk (--fsync always: every confirm waits for
// the group-commit fsync covering it). ns/op is per confirmed message.
func BenchmarkDurablePublish(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			cfg := testConfig()
			cfg.DataDir = b.TempDir()
			_, addr := startServer(b, cfg)
			c := dialNative(b, addr, wire.Hello{ClientName: "bench"})
			var batch []byte
			batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 1, Name: "q", Durable: durable})
			batch = wire.AppendBind(batch, &wire.Bind{ReqID: 2, Exchange: broker.DefaultExchange, Queue: "q", Key: "q"})
			c.send(batch)
			for id := uint64(1); id <= 2; id++ {
				if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
					b.Fatalf("request %d answered %#v", id, f)
				}
			}
			body := make([]byte, 512)
			const window = 256
			sent, confirmed := 0, 0
			b.SetBytes(512)
			b.ResetTimer()
			for confirmed < b.N {
				batch = batch[:0]
				for sent < b.N && sent-confirmed < window {
					sent++
					batch = wire.AppendPublish(batch, &wire.Publish{Seq: uint64(sent), Exchange: []byte(broker.DefaultExchange),
						RoutingKey: []byte("q"), MessageID: []byte(fmt.Sprintf("m%d", sent)), Body: body})
				}
				if len(batch) > 0 {
					c.send(batch)
				}
				switch f := c.next().(type) {
				case *wire.Confirm:
					confirmed += int(f.Last - f.First + 1)
				case *wire.Nack:
					b.Fatalf("publish %d refused: %s", f.Seq, f.Reason)
				default:
					b.Fatalf("unexpected %#v", f)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
