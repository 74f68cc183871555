package wal

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestReopenRebuildsState(t *testing.T) {
	fsys := NewMemFS()
	s, rec := mustOpen(t, fsys, testOpts())
	if len(rec.Queues)+len(rec.Messages)+len(rec.Damage) != 0 || rec.NextSeq != 1 {
		t.Fatalf("fresh store recovered %+v", rec)
	}
	mustAppend(t, s,
		Record{Type: RecDeclareExchange, Exchange: "ex", ExchangeType: 1},
		Record{Type: RecDeclareQueue, Queue: "a", QueueOptions: QueueOptions{MaxLength: 3, DeadLetterQueue: "b"}},
		Record{Type: RecDeclareQueue, Queue: "b"},
		Record{Type: RecBind, Exchange: "ex", Queue: "a", Key: "k"},
		publish(1, "one", "a", "b"),
		publish(2, "two", "a"),
		publish(3, "three", "b"),
		Record{Type: RecDelivered, Seq: 1, Queue: "a"},
		Record{Type: RecDelivered, Seq: 1, Queue: "a"},
		settle(1, "b"),
		settle(3, "b"),
		Record{Type: RecDedup, MessageID: "id-1", Time: 100},
		Record{Type: RecDedup, MessageID: "id-2", Time: 200},
	)
	if got := mustSync(t, s); got != 13 {
		t.Fatalf("durable LSN %d, want 13", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, rec = mustOpen(t, fsys, testOpts())
	defer s.Close()
	want := &Recovered{
		Exchanges: []Exchange{{Name: "ex", Type: 1}},
		Queues:    []Queue{{Name: "a", Options: QueueOptions{MaxLength: 3, DeadLetterQueue: "b"}}, {Name: "b"}},
		Bindings:  []Binding{{Exchange: "ex", Queue: "a", Key: "k"}},
		Messages:  []QueueMessages{{Queue: "a", Messages: []MessageRef{{Seq: 1, Deliveries: 2}, {Seq: 2}}}},
		Dedup:     []DedupEntry{{ID: "id-1", Time: 100}, {ID: "id-2", Time: 200}},
		NextSeq:   4,
	}
	if !sameRecovered(rec, want) {
		t.Fatalf("recovered\n%+v\nwant\n%+v", rec, want)
	}
	if rec.Records != 13 || len(rec.Damage) != 0 {
		t.Fatalf("records %d damage %v", rec.Records, rec.Damage)
	}
	m, err := s.ReadMessage(1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, Message{Seq: 1, ID: "id-1", Exchange: "ex", RoutingKey: "k", Body: []byte("one")}) {
		t.Fatalf("message 1: %+v", m)
	}
	if _, err := s.ReadMessage(3); err == nil {
		t.Fatal("settled message 3 still readable")
	}
}

func TestDeletesUndoTopologyAndDiscardMessages(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	mustAppend(t, s,
		Record{Type: RecDeclareExchange, Exchange: "ex", ExchangeType: 2},
		Record{Type: RecDeclareQueue, Queue: "a"},
		Record{Type: RecDeclareQueue, Queue: "b"},
		Record{Type: RecBind, Exchange: "ex", Queue: "a"},
		Record{Type: RecBind, Exchange: "ex", Queue: "b"},
		publish(1, "x", "a", "b"),
		Record{Type: RecDeleteQueue, Queue: "a"},
		Record{Type: RecDeleteExchange, Exchange: "ex"},
	)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, fsys, testOpts())
	defer s.Close()
	want := &Recovered{
		Exchanges: []Exchange{}, Queues: []Queue{{Name: "b"}}, Bindings: []Binding{},
		Messages: []QueueMessages{{Queue: "b", Messages: []MessageRef{{Seq: 1}}}},
		Dedup:    []DedupEntry{}, NextSeq: 2,
	}
	if !sameRecovered(rec, want) {
		t.Fatalf("recovered\n%+v\nwant\n%+v", rec, want)
	}
}

func TestBadRecordIsRefusedWithoutHarm(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	defer s.Close()
	mustAppend(t, s, Record{Type: RecDeclareQueue, Queue: "q"})
	before := s.Stats()
	_, err := s.Append(publish(1, "ok", "q"), Record{Type: RecPublish, Seq: 2}) // second has no target
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("err %v, want ErrBadRecord", err)
	}
	if s.Err() != nil || s.Stats() != before {
		t.Fatalf("a refused batch changed the store: err %v stats %+v -> %+v", s.Err(), before, s.Stats())
	}
	small := Options{Logger: quiet(), MaxRecordSize: 64}
	s2, _ := mustOpen(t, NewMemFS(), small)
	defer s2.Close()
	if _, err := s2.Append(publish(1, string(make([]byte, 100)), "q")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized record: err %v", err)
	}
	mustAppend(t, s2, publish(1, "fits", "q"))
}

func TestSyncIsGroupCommit(t *testing.T) {
	s, _ := mustOpen(t, NewMemFS(), testOpts())
	defer s.Close()
	var recs []Record
	for i := uint64(1); i <= 64; i++ {
		recs = append(recs, publish(i, "b", "q"))
	}
	lsn := mustAppend(t, s, recs...)
	if lsn != 64 || s.Durable() != 0 {
		t.Fatalf("after append: lsn %d durable %d", lsn, s.Durable())
	}
	if d := mustSync(t, s); d != 64 {
		t.Fatalf("durable %d after one sync, want 64", d)
	}
}

func TestSnapshotKeepsTopologyAndPrunesDedup(t *testing.T) {
	fsys := NewMemFS()
	opts := Options{Logger: quiet(), SegmentSize: 512, DedupWindow: time.Second}
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, Record{Type: RecDeclareQueue, Queue: "q"}, Record{Type: RecDeclareExchange, Exchange: "e", ExchangeType: 1},
		Record{Type: RecBind, Exchange: "e", Queue: "q", Key: "k"}, Record{Type: RecDedup, MessageID: "old", Time: 0})
	for i := uint64(1); i <= 40; i++ {
		mustAppend(t, s, publish(i, "0123456789", "q"), Record{Type: RecDedup, MessageID: "n", Time: int64(10 * time.Second)})
		mustSync(t, s)
		mustAppend(t, s, settle(i, "q"))
		mustSync(t, s)
	}
	if st := s.Stats(); st.Segments > 3 {
		t.Fatalf("settled segments kept: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, fsys, opts)
	defer s.Close()
	want := &Recovered{
		Exchanges: []Exchange{{Name: "e", Type: 1}}, Queues: []Queue{{Name: "q"}}, Bindings: []Binding{{Exchange: "e", Queue: "q", Key: "k"}},
		Messages: []QueueMessages{}, Dedup: []DedupEntry{{ID: "n", Time: int64(10 * time.Second)}}, NextSeq: 41,
	}
	if !sameRecovered(rec, want) {
		t.Fatalf("recovered\n%+v\nwant\n%+v", rec, want)
	}
}

func TestClosedStoreRefuses(t *testing.T) {
	s, _ := mustOpen(t, NewMemFS(), testOpts())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(publish(1, "x", "q")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
}

func TestParseSyncPolicy(t *testing.T) {
	for in, want := range map[string]SyncPolicy{"always": SyncAlways, "": SyncAlways, "interval": SyncInterval} {
		if got, err := ParseSyncPolicy(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseSyncPolicy("sometimes"); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestSplitSyncCoversWhatWasAppendedBefore(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	mustAppend(t, s, publish(1, "a", "q"), publish(2, "b", "q"))
	task, err := s.BeginSync()
	if err != nil || task.upTo != 2 {
		t.Fatalf("BeginSync: %v %v", task, err)
	}
	mustAppend(t, s, publish(3, "c", "q")) // arrives during the fsync
	if d, err := s.EndSync(task, task.Run()); err != nil || d != 2 {
		t.Fatalf("EndSync: durable %d err %v, want 2", d, err)
	}
	fsys.Crash(0)
	s, rec := mustOpen(t, fsys, testOpts())
	defer s.Close()
	// Message 3 was written before the fsync ran, so it is on disk too;
	// what matters is that 1 and 2 are.
	if got := rec.Messages[0].Messages; len(got) < 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("recovered %+v", got)
	}

	mustAppend(t, s, publish(4, "d", "q"))
	task, _ = s.BeginSync()
	if d, err := s.EndSync(task, errors.New("EIO")); !errors.Is(err, ErrFailed) || d >= task.upTo {
		t.Fatalf("EndSync with an fsync error: durable %d err %v", d, err)
	}
}

func TestSnapshotBoundsDedupByCount(t *testing.T) {
	fsys := NewMemFS()
	opts := Options{Logger: quiet(), SegmentSize: 256, DedupMaxIDs: 3}
	s, _ := mustOpen(t, fsys, opts)
	for i := int64(1); i <= 10; i++ {
		mustAppend(t, s, Record{Type: RecDedup, MessageID: fmt.Sprintf("id-%02d", i), Time: i})
	}
	mustAppend(t, s, publish(1, string(make([]byte, 300)), "q")) // forces a roll
	mustSync(t, s)
	mustAppend(t, s, settle(1, "q"))
	mustSync(t, s)
	mustAppend(t, s, publish(2, string(make([]byte, 300)), "q")) // and another
	mustSync(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, fsys, opts)
	defer s.Close()
	if s.Stats().Segments > 2 {
		t.Fatalf("old segments kept: %+v", s.Stats())
	}
	want := []DedupEntry{{ID: "id-08", Time: 8}, {ID: "id-09", Time: 9}, {ID: "id-10", Time: 10}}
	if !reflect.DeepEqual(rec.Dedup, want) {
		t.Fatalf("dedup %v, want the newest 3 %v", rec.Dedup, want)
	}
}
