package sender

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkRun publishes b.N sealed 256-byte messages to an in-process
// broker, with and without a --report file (two write calls per message).
func BenchmarkRun(b *testing.B) {
	for _, withReport := range []bool{false, true} {
		name := "no-report"
		if withReport {
			name = "report-file"
		}
		b.Run(name, func(b *testing.B) {
			_, addr := startBroker(b)
			conn := dial(b, addr)
			o := Options{Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(b)}
			if withReport {
				rep, err := NewReport(createFile(b, filepath.Join(b.TempDir(), "r.jsonl")), ReportOptions{Publisher: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				o.Observer = rep
			}
			// Drain the queue so the broker's memory does not grow with b.N.
			cons, err := conn.Consume(context.Background(), consumeAll())
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = cons.Cancel(context.Background()) }()
			b.SetBytes(256)
			b.ResetTimer()
			sum, err := Run(context.Background(), conn, o, Generated(GenerateOptions{Count: b.N, Size: 256}))
			if err != nil || sum.Confirmed != b.N {
				b.Fatalf("err %v, summary %+v", err, sum)
			}
		})
	}
}
