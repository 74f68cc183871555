package protocol_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// BenchmarkStatsPage measures one native stats request through a session
// (page walk, permission checks, JSON, frame) with n queues in the
// default vhost: for an administrator (a full page of 1,000) and for a
// user who may see 10 of them, spread evenly (its walk stops at
// MaxStatsScan names), each from the first page and from a cursor in the
// middle. names/page is the core's work meter per request: the names the
// page visited; cpu-ns/page the process's CPU time per request (GC
// included), steadier than ns/op on a shared machine.
func BenchmarkStatsPage(b *testing.B) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{1_000, 10_000, 100_000} {
		core := broker.New(broker.Config{MaxQueues: 2 * n})
		step := n / 10
		for i := range n {
			name := fmt.Sprintf("q%06d", i)
			if i%step == step/2 {
				name += "-v"
			}
			if err := core.DeclareQueue(name, broker.QueueOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		db, err := access.NewDB(&access.File{Version: access.FileVersion, Users: []access.User{
			{Name: "admin", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": {Configure: ".*", Write: ".*", Read: ".*"}}},
			{Name: "ten", Permissions: map[string]access.Permissions{"/": {Read: ".*-v"}}},
		}}, access.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		cfg := protocol.Config{Heartbeat: -1, HandshakeTimeout: time.Hour, Users: func() *access.DB { return db }}
		var next broker.ConnID
		open := func(user string) *protocol.Native {
			next++
			s := protocol.NewNativeFrom(core, next, cfg, protocol.Peer{TLS: true, CertIdentity: user}, now)
			in := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, Features: wire.FeatureAuth | wire.FeatureStatsCursor})
			in = wire.AppendAuth(in, &wire.Auth{Mechanism: "EXTERNAL"})
			if _, err := s.Feed(in, now); err != nil {
				b.Fatal(err)
			}
			if closed, why := s.Closed(); closed {
				b.Fatalf("handshake of %s: %s", user, why)
			}
			s.Wrote(len(s.Output()), now)
			return s
		}
		for _, c := range []struct {
			name string
			user string
			req  wire.Stats
		}{
			{"admin/first", "admin", wire.Stats{ReqID: 1}},
			{"admin/cursor", "admin", wire.Stats{ReqID: 1, List: wire.StatsQueues, After: fmt.Sprintf("q%06d", n/2)}},
			{"sees10/first", "ten", wire.Stats{ReqID: 1}},
			{"sees10/cursor", "ten", wire.Stats{ReqID: 1, List: wire.StatsQueues, After: fmt.Sprintf("q%06d", n/2)}},
		} {
			s := open(c.user)
			frame := wire.AppendStats(nil, &c.req)
			b.Run(fmt.Sprintf("%s/queues=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				w0, _ := core.WorkMeter()
				c0, cpuOK := processCPU()
				var out int
				for i := 0; i < b.N; i++ {
					if _, err := s.Feed(frame, now); err != nil {
						b.Fatal(err)
					}
					o := s.Output()
					if len(o) == 0 || o[4] != byte(wire.FrameStatsOK) {
						b.Fatalf("stats answered %.200q", o)
					}
					out = len(o)
					s.Wrote(len(o), now)
				}
				w1, _ := core.WorkMeter()
				if c1, ok := processCPU(); ok && cpuOK {
					b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/page")
				}
				b.ReportMetric(float64(w1-w0)/float64(b.N), "names/page")
				b.ReportMetric(float64(out), "reply-bytes")
			})
		}
	}
}
