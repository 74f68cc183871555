package wal

import (
	"fmt"
	"slices"
	"testing"
	"time"
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

// BenchmarkAppendStall measures how long the driver's lock is held by
// Append (the server calls it under its lock) on the real disk, in the
// broker's pattern: per message a publish with its dedup entry, a
// delivered and a settle record, group commit every 32 messages (the sync
// is not timed), 16 MiB segments so that a run rolls several times with a
// dedup window of up to 100,000 ids in each new segment's snapshot. Before
// the rolls moved to the sync task, the Append that rolled fsync'd the old
// segment, wrote the snapshot and fsync'd it and the directory.
func BenchmarkAppendStall(b *testing.B) {
	const msgs = 100_000
	for range b.N {
		fsys, err := NewOSFS(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		s, _ := mustOpen(b, fsys, Options{Logger: quiet(), SegmentSize: 16 << 20, DedupMaxIDs: 250_000})
		body := make([]byte, 512)
		lat := make([]time.Duration, 0, 3*msgs)
		var rollMax, otherMax time.Duration
		timed := func(recs ...Record) {
			segs := len(s.segs)
			t0 := time.Now()
			mustAppend(b, s, recs...)
			d := time.Since(t0)
			lat = append(lat, d)
			if len(s.segs) != segs {
				rollMax = max(rollMax, d)
			} else {
				otherMax = max(otherMax, d)
			}
		}
		for seq := uint64(1); seq <= msgs; seq++ {
			id := fmt.Sprintf("sender-1-message-%d", seq)
			timed(Record{Type: RecPublish, Seq: seq, MessageID: id, Exchange: "ex", Key: "k", Body: body, Targets: []Target{{Queue: "q"}}},
				Record{Type: RecDedup, MessageID: id, Time: int64(seq)})
			timed(Record{Type: RecDelivered, Seq: seq, Queue: "q"})
			timed(Record{Type: RecSettle, Seq: seq, Queue: "q", Outcome: Acked})
			if seq%32 == 0 {
				mustSync(b, s)
			}
		}
		segs := s.segs[len(s.segs)-1].num
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
		b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
		b.ReportMetric(float64(rollMax.Nanoseconds()), "roll-max-ns")
		b.ReportMetric(float64(otherMax.Nanoseconds()), "other-max-ns")
		b.ReportMetric(float64(segs-1), "rolls")
	}
}

// BenchmarkRollLockHold measures the Append that rolls to a new segment
// (the server holds its lock through it) on the real disk, with a dedup
// window of ids ids to carry into the new segment's snapshot (the
// default --dedup-max-ids is 250,000; at 5,000 msg/s a 64 MiB segment
// rolls with about 100,000). One op is one roll; the Sync that finishes
// it is not timed, but snapshot-fsync-ns is the fsync of the new segment
// that the roll's sync task runs before it confirms anything (compare
// BenchmarkAppendSync/batch=1 for the fsync of one publish).
func BenchmarkRollLockHold(b *testing.B) {
	for _, ids := range []int{100_000, 250_000} {
		b.Run(fmt.Sprintf("ids=%d", ids), func(b *testing.B) {
			fsys, err := NewOSFS(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			s, _ := mustOpen(b, fsys, Options{Logger: quiet(), SegmentSize: 1, DedupMaxIDs: ids})
			defer s.Close()
			mustAppend(b, s, Record{Type: RecDeclareQueue, Queue: "q"}, Record{Type: RecDeclareExchange, Exchange: "ex", ExchangeType: 1},
				Record{Type: RecBind, Exchange: "ex", Queue: "q", Key: "k"})
			recs := make([]Record, 0, 1000)
			for i := range ids {
				id := fmt.Sprintf("user-1\x00ex\x00sender-1-message-%d", i)
				recs = append(recs, Record{Type: RecDedup, MessageID: id, Time: int64(i)})
				if len(recs) == cap(recs) {
					mustAppend(b, s, recs...)
					recs = recs[:0]
				}
			}
			mustAppend(b, s, recs...)
			mustSync(b, s)
			body := make([]byte, 512)
			var wrote int64
			var snapSync time.Duration
			b.ResetTimer()
			for i := range b.N {
				before := s.Stats().Bytes
				mustAppend(b, s, Record{Type: RecPublish, Seq: uint64(i + 1), MessageID: "m", Exchange: "ex", Key: "k", Body: body, Targets: []Target{{Queue: "q"}}})
				b.StopTimer()
				wrote += s.Stats().Bytes - before
				if s.rolling == nil {
					b.Fatal("the Append did not roll")
				}
				// The fsync of the new segment (its snapshot and one publish),
				// which the roll's sync task runs before it confirms anything.
				t0 := time.Now()
				if err := s.active().file.Sync(); err != nil {
					b.Fatal(err)
				}
				snapSync += time.Since(t0)
				mustAppend(b, s, Record{Type: RecSettle, Seq: uint64(i + 1), Queue: "q", Outcome: Acked})
				mustSync(b, s)
				b.StartTimer()
			}
			b.ReportMetric(float64(wrote)/float64(b.N), "B/roll")
			b.ReportMetric(float64(snapSync.Nanoseconds())/float64(b.N), "snapshot-fsync-ns")
		})
	}
}

// BenchmarkAppendPublish measures the CPU of Append alone (in-memory
// disk, no fsync) in the broker's pattern for one message: a publish with
// its dedup entry, then a delivered and a settle record, with a dedup
// window of 250,000 ids (the default bound) kept across the run. One op
// is one message.
func BenchmarkAppendPublish(b *testing.B) {
	s, _ := mustOpen(b, NewMemFS(), Options{Logger: quiet(), DedupMaxIDs: 250_000})
	defer s.Close()
	body := make([]byte, 512)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-1\x00ex\x00sender-1-message-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		seq := uint64(i + 1)
		id := ids[i]
		mustAppend(b, s, Record{Type: RecPublish, Seq: seq, MessageID: id, Exchange: "ex", Key: "k", Body: body, Targets: []Target{{Queue: "q"}}},
			Record{Type: RecDedup, MessageID: id, Time: int64(i)})
		mustAppend(b, s, Record{Type: RecDelivered, Seq: seq, Queue: "q"})
		mustAppend(b, s, Record{Type: RecSettle, Seq: seq, Queue: "q", Outcome: Acked})
		if i%256 == 255 {
			mustSync(b, s)
		}
	}
}
