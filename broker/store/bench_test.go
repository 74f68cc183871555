package store

import (
	"fmt"
	"testing"
)

// BenchmarkAppendSync measures group commit on the real disk: one Append
// of a batch of 512-byte publishes, then one Sync. ns/op is per message.
func BenchmarkAppendSync(b *testing.B) {
	for _, batch := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			fsys, err := NewOSFS(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s, _ := mustOpen(b, fsys, testOpts())
			defer s.Close()
			body := make([]byte, 512)
			recs := make([]Record, batch)
			seq := uint64(1)
			syncs := 0
			b.SetBytes(512)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				for i := range recs[:n] {
					recs[i] = Record{Type: RecPublish, Seq: seq, MessageID: "id", Exchange: "ex", Key: "k", Body: body, Targets: []Target{{Queue: "q"}}}
					seq++
				}
				mustAppend(b, s, recs[:n]...)
				mustSync(b, s)
				syncs++
				done += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(syncs)/b.Elapsed().Seconds(), "fsyncs/s")
		})
	}
}

// BenchmarkReplay measures recovery: Open of a log holding 1,000,000
// unacked 512-byte messages (about 560 MB in 64 MiB segments), read from
// the page cache after the first run.
func BenchmarkReplay(b *testing.B) {
	const msgs = 1_000_000
	fsys, err := NewOSFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := mustOpen(b, fsys, testOpts())
	mustAppend(b, s, Record{Type: RecDeclareQueue, Queue: "q"})
	body := make([]byte, 512)
	recs := make([]Record, 1000)
	for seq := uint64(1); seq <= msgs; {
		for i := range recs {
			recs[i] = Record{Type: RecPublish, Seq: seq, MessageID: fmt.Sprintf("message-%d", seq), Exchange: "ex", Key: "k", Body: body, Targets: []Target{{Queue: "q"}}}
			seq++
		}
		mustAppend(b, s, recs...)
		mustSync(b, s)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s, rec := mustOpen(b, fsys, testOpts())
		if n := len(rec.Messages[0].Messages); n != msgs {
			b.Fatalf("recovered %d messages", n)
		}
		s.Close()
	}
	b.ReportMetric(float64(msgs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
