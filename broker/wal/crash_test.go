package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// workload is a little of everything, one record per Append so that every
// record boundary is known.
func workload() []Record {
	recs := []Record{
		{Type: RecDeclareExchange, Exchange: "ex", ExchangeType: 1},
		{Type: RecDeclareQueue, Queue: "a"},
		{Type: RecDeclareQueue, Queue: "b", QueueOptions: QueueOptions{DeliveryLimit: 3}},
		{Type: RecBind, Exchange: "ex", Queue: "a", Key: "k"},
	}
	for i := uint64(1); i <= 6; i++ {
		recs = append(recs, publish(i, fmt.Sprintf("body-%d", i), "a", "b"))
		recs = append(recs, Record{Type: RecDedup, MessageID: fmt.Sprintf("id-%d", i), Time: int64(i)})
		if i%2 == 0 {
			recs = append(recs, Record{Type: RecDelivered, Seq: i - 1, Queue: "a"}, settle(i-1, "b"))
		}
	}
	return append(recs, Record{Type: RecUnbind, Exchange: "ex", Queue: "a", Key: "k"}, settle(6, "a"))
}

func TestReplayAtEveryCutPoint(t *testing.T) {
	src := NewMemFS()
	s, _ := mustOpen(t, src, testOpts())
	bounds := []int{int(s.Stats().Bytes)}
	for _, r := range workload() {
		mustAppend(t, s, r)
		bounds = append(bounds, int(s.Stats().Bytes))
	}
	mustSync(t, s)
	name := segName(1)
	data, _ := src.ReadFile(name)
	if len(data) != bounds[len(bounds)-1] {
		t.Fatalf("file is %d bytes, appends said %d", len(data), bounds[len(bounds)-1])
	}

	openCut := func(c int) (*Recovered, *MemFS) {
		t.Helper()
		fsys := NewMemFS()
		fsys.WriteFile(name, data[:c])
		s, rec, err := Open(fsys, testOpts())
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", c, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cut at %d: Close: %v", c, err)
		}
		return rec, fsys
	}
	// References: the log cut exactly after k records.
	refs := make([]*Recovered, len(bounds))
	for k, b := range bounds {
		rec, _ := openCut(b)
		if len(rec.Damage) != 0 || rec.Records != k {
			t.Fatalf("clean cut after %d records: damage %v, %d records", k, rec.Damage, rec.Records)
		}
		refs[k] = rec
	}
	if sameRecovered(refs[0], refs[len(refs)-1]) {
		t.Fatal("the workload changes nothing: the table proves nothing")
	}
	k := 0
	for c := bounds[0]; c <= len(data); c++ {
		for k+1 < len(bounds) && bounds[k+1] <= c {
			k++
		}
		rec, fsys := openCut(c)
		if !sameRecovered(rec, refs[k]) {
			t.Fatalf("cut at %d (inside record %d): recovered\n%+v\nwant\n%+v", c, k+1, rec, refs[k])
		}
		if c == bounds[k] {
			if len(rec.Damage) != 0 {
				t.Fatalf("cut at boundary %d reported damage %v", c, rec.Damage)
			}
			continue
		}
		want := Damage{Segment: name, Offset: int64(bounds[k]), Dropped: int64(c - bounds[k])}
		if len(rec.Damage) != 1 || rec.Damage[0].Offset != want.Offset || rec.Damage[0].Dropped != want.Dropped || rec.Damage[0].Segment != name {
			t.Fatalf("cut at %d: damage %v, want %v", c, rec.Damage, want)
		}
		if got, _ := fsys.ReadFile(name); len(got) != bounds[k] {
			t.Fatalf("cut at %d: file left at %d bytes, want the tail cut to %d", c, len(got), bounds[k])
		}
		if again, _ := openCut2(t, fsys); len(again.Damage) != 0 {
			t.Fatalf("cut at %d: second recovery still reports %v", c, again.Damage)
		}
	}
}

func openCut2(t *testing.T, fsys *MemFS) (*Recovered, error) {
	t.Helper()
	s, rec, err := Open(fsys, testOpts())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	return rec, s.Close()
}

func TestTornSegmentHeaderStartsAFreshSegment(t *testing.T) {
	for c := 0; c < segHeaderSize; c++ {
		fsys := NewMemFS()
		fsys.WriteFile(segName(1), segHeader(1, 1)[:c])
		s, rec := mustOpen(t, fsys, testOpts())
		if len(rec.Damage) != 1 || rec.Damage[0].Dropped != int64(c) {
			t.Fatalf("header cut at %d: damage %v", c, rec.Damage)
		}
		mustAppend(t, s, publish(1, "x", "q"))
		mustSync(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, rec = mustOpen(t, fsys, testOpts())
		if len(rec.Messages) != 1 || len(rec.Damage) != 0 {
			t.Fatalf("after header cut at %d: %+v", c, rec)
		}
		s.Close()
	}
}

// TestRandomCrashesKeepEverySyncedRecord drives a random workload over a
// disk that loses power at random moments (tearing the last write by a
// random amount) with tiny segments, so rolls, deletions and relocations
// all happen, and checks after each restart: every message whose publish
// was synced and whose settle was never appended is there, with its
// queues; every message whose settle was synced is gone.
func TestRandomCrashesKeepEverySyncedRecord(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomCrashRun(t, seed) })
	}
}

type msgFate struct {
	published, publishSynced bool
	settleAppended           bool
	settleSynced             bool
}

func randomCrashRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	opts := Options{Logger: quiet(), SegmentSize: 600}
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, opts)
	fates := map[uint64]*msgFate{}
	next := uint64(1)
	var unsyncedPub, unsyncedSettle []uint64
	for step := 0; step < 400; step++ {
		switch x := rng.IntN(10); {
		case x < 4:
			var recs []Record
			for n := 1 + rng.IntN(4); n > 0; n-- {
				recs = append(recs, publish(next, fmt.Sprintf("b%d", next), "q"))
				fates[next] = &msgFate{published: true}
				unsyncedPub = append(unsyncedPub, next)
				next++
			}
			mustAppend(t, s, recs...)
		case x < 7:
			for seq, f := range fates {
				if f.publishSynced && !f.settleAppended && rng.IntN(3) == 0 {
					f.settleAppended = true
					unsyncedSettle = append(unsyncedSettle, seq)
					mustAppend(t, s, settle(seq, "q"))
				}
			}
		case x < 9:
			mustSync(t, s)
			for _, seq := range unsyncedPub {
				fates[seq].publishSynced = true
			}
			for _, seq := range unsyncedSettle {
				fates[seq].settleSynced = true
			}
			unsyncedPub, unsyncedSettle = nil, nil
		default:
			fsys.Crash(rng.IntN(200))
			var rec *Recovered
			s, rec = mustOpen(t, fsys, opts)
			live := map[uint64]bool{}
			for _, qm := range rec.Messages {
				for _, m := range qm.Messages {
					live[m.Seq] = true
				}
			}
			for seq, f := range fates {
				switch {
				case f.publishSynced && !f.settleAppended && !live[seq]:
					t.Fatalf("step %d: synced, unsettled message %d lost after a crash", step, seq)
				case f.settleSynced && live[seq]:
					t.Fatalf("step %d: message %d settled and synced, back after a crash", step, seq)
				}
				// Whatever the crash decided is the truth from now on.
				f.publishSynced = live[seq]
				f.settleAppended = !live[seq]
				f.settleSynced = !live[seq]
				if live[seq] {
					if _, err := s.ReadMessage(seq); err != nil {
						t.Fatalf("step %d: live message %d unreadable: %v", step, seq, err)
					}
				}
			}
			if rec.NextSeq < next {
				// Unsynced publishes may be gone; their numbers must not
				// come back while synced settles of them could exist.
				next = max(next, rec.NextSeq)
			}
			unsyncedPub, unsyncedSettle = nil, nil
		}
		checkAccounting(t, s)
		if st := s.Stats(); st.Durable == st.Appended && st.Bytes > 2*st.LiveBytes+4*opts.SegmentSize+2000 {
			t.Fatalf("step %d: disk %d bytes for %d live bytes", step, st.Bytes, st.LiveBytes)
		}
	}
	s.Close()
}
