package wal

import (
	"fmt"
	"testing"
)

// TestCompactionKeepsDiskProportionalToUnacked pins a few early messages
// (never acked) while thousands flow through: without relocation the
// first segment would keep every later one alive.
func TestCompactionKeepsDiskProportionalToUnacked(t *testing.T) {
	const segSize = 4096
	opts := Options{Logger: quiet(), SegmentSize: segSize}
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, Record{Type: RecDeclareQueue, Queue: "q"})
	pinned := []uint64{1, 2, 3}
	for _, seq := range pinned {
		mustAppend(t, s, publish(seq, "pinned", "q"), Record{Type: RecDelivered, Seq: seq, Queue: "q"})
	}
	body := string(make([]byte, 200))
	maxSegs := 0
	for seq := uint64(4); seq < 3000; seq++ {
		mustAppend(t, s, publish(seq, body, "q"))
		mustAppend(t, s, settle(seq, "q"))
		mustSync(t, s)
		checkAccounting(t, s)
		st := s.Stats()
		maxSegs = max(maxSegs, st.Segments)
		if st.Bytes > 2*st.LiveBytes+2*segSize+segSize {
			t.Fatalf("message %d: %d bytes on disk for %d live bytes (%d segments)", seq, st.Bytes, st.LiveBytes, st.Segments)
		}
		if used := fsys.Used(); used != st.Bytes {
			t.Fatalf("message %d: the disk holds %d bytes, the store counts %d (a deleted segment left behind?)", seq, used, st.Bytes)
		}
	}
	if maxSegs < 2 {
		t.Fatalf("never rolled a segment (max %d): the test proves nothing", maxSegs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := mustOpen(t, fsys, opts)
	defer s.Close()
	want := []MessageRef{{Seq: 1, Deliveries: 1}, {Seq: 2, Deliveries: 1}, {Seq: 3, Deliveries: 1}}
	if len(rec.Messages) != 1 || fmt.Sprint(rec.Messages[0].Messages) != fmt.Sprint(want) {
		t.Fatalf("recovered %+v, want the pinned messages with one delivery each", rec.Messages)
	}
	if rec.NextSeq != 3000 {
		t.Fatalf("next sequence %d after compaction, want 3000", rec.NextSeq)
	}
	for _, seq := range pinned {
		m, err := s.ReadMessage(seq)
		if err != nil || string(m.Body) != "pinned" {
			t.Fatalf("pinned message %d after relocation: %+v %v", seq, m, err)
		}
	}
}

// TestRelocationSurvivesCrashBeforeDelete: if power fails after the
// relocated copies are synced but before the old segment is removed,
// replay sees both copies and keeps one.
func TestRelocationSurvivesCrashBeforeDelete(t *testing.T) {
	opts := Options{Logger: quiet(), SegmentSize: 1024}
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, publish(1, "keep", "q", "r"), settle(1, "r"))
	mustSync(t, s)
	body := string(make([]byte, 300))
	seq := uint64(2)
	for s.Stats().Segments < 4 {
		mustAppend(t, s, publish(seq, body, "q"))
		mustSync(t, s)
		seq++
	}
	// Relocate by hand, sync the copies and crash before the old segment
	// is deleted (the task after the one that synced them would do that).
	if _, err := s.relocateFrom(s.segs[0], 1<<30); err != nil {
		t.Fatal(err)
	}
	task, err := s.BeginSync()
	if err != nil {
		t.Fatal(err)
	}
	if len(task.doomed) != 0 {
		t.Fatalf("a segment whose relocated copies are not durable yet is about to be removed: %d", task.doomed[0].num)
	}
	if err := task.Run(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash(0)
	s, rec := mustOpen(t, fsys, opts)
	defer s.Close()
	if len(rec.Messages) != 1 || rec.Messages[0].Messages[0] != (MessageRef{Seq: 1}) || len(rec.Messages[0].Messages) != int(seq-1) {
		t.Fatalf("recovered %+v", rec.Messages)
	}
	if m, err := s.ReadMessage(1); err != nil || string(m.Body) != "keep" {
		t.Fatalf("message 1: %+v %v", m, err)
	}
	if st := s.Stats(); st.LiveMessages != int(seq-1) {
		t.Fatalf("live messages %d, want %d (a relocated message counted twice?)", st.LiveMessages, seq-1)
	}
}
