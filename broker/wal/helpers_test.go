package wal

import (
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testOpts() Options { return Options{Logger: quiet()} }

func mustOpen(t testing.TB, fsys FS, opts Options) (*Store, *Recovered) {
	t.Helper()
	s, rec, err := Open(fsys, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, rec
}

func mustAppend(t testing.TB, s *Store, recs ...Record) LSN {
	t.Helper()
	lsn, err := s.Append(recs...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return lsn
}

func mustSync(t testing.TB, s *Store) LSN {
	t.Helper()
	lsn, err := s.Sync()
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return lsn
}

func publish(seq uint64, body string, queues ...string) Record {
	r := Record{Type: RecPublish, Seq: seq, MessageID: fmt.Sprintf("id-%d", seq), Exchange: "ex", Key: "k", Body: []byte(body)}
	for _, q := range queues {
		r.Targets = append(r.Targets, Target{Queue: q})
	}
	return r
}

func settle(seq uint64, q string) Record {
	return Record{Type: RecSettle, Seq: seq, Queue: q, Outcome: Acked}
}

// sampleRecords has one record of every type with every field used.
func sampleRecords() []Record {
	return []Record{
		{Type: RecDeclareExchange, Exchange: "orders", ExchangeType: 3},
		{Type: RecDeclareQueue, Queue: "q1", QueueOptions: QueueOptions{MaxLength: 10, MaxBytes: 1 << 20, AckTimeout: 30 * time.Second, DeliveryLimit: 5, DeadLetterQueue: "dlq"}},
		{Type: RecDeclareQueue, Queue: "dlq"},
		{Type: RecDeclareQueue, Queue: "q3", QueueOptions: QueueOptions{Discard: true}},
		{Type: RecBind, Exchange: "orders", Queue: "q1", Key: "eu.#"},
		{Type: RecPublish, Seq: 7, MessageID: "m-7", Exchange: "orders", Key: "eu.de", Body: []byte("hello"), Targets: []Target{{Queue: "q1", Deliveries: 2}, {Queue: "q2"}}},
		{Type: RecDelivered, Seq: 7, Queue: "q1"},
		{Type: RecSettle, Seq: 7, Queue: "q2", Outcome: DeadLettered},
		{Type: RecDedup, MessageID: "m-7", Time: -42},
		{Type: RecUnbind, Exchange: "orders", Queue: "q1", Key: "eu.#"},
		{Type: RecDeleteQueue, Queue: "dlq"},
		{Type: RecDeleteExchange, Exchange: "orders"},
	}
}

// sameRecovered compares what two replays rebuilt, ignoring counters that
// depend on how the log was written (record counts, damage).
func sameRecovered(a, b *Recovered) bool {
	strip := func(r *Recovered) Recovered {
		c := *r
		c.Records, c.Orphans, c.Damage = 0, 0, nil
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// checkAccounting cross-checks the per-segment live counters against the
// live index they summarise.
func checkAccounting(t testing.TB, s *Store) {
	t.Helper()
	count := map[uint64]int{}
	bytes := map[uint64]int64{}
	for _, m := range s.st.live {
		count[m.seg]++
		bytes[m.seg] += m.size
		if s.st.segs[m.seg] == nil {
			t.Fatalf("live message in deleted segment %d", m.seg)
		}
	}
	for _, sg := range s.segs {
		if sg.live != count[sg.num] || sg.liveBytes != bytes[sg.num] {
			t.Fatalf("segment %d counts %d live / %d bytes, index says %d / %d", sg.num, sg.live, sg.liveBytes, count[sg.num], bytes[sg.num])
		}
	}
}
