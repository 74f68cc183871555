package wal

import (
	"errors"
	"slices"
	"testing"
)

// processCrash is kill -9 of the broker: the page cache keeps every byte
// written, synced or not, and the lock goes away with the process.
func processCrash(t *testing.T, fsys *MemFS) *MemFS {
	t.Helper()
	out := NewMemFS()
	names, _ := fsys.List()
	for _, n := range names {
		if b, ok := fsys.ReadFile(n); ok {
			out.WriteFile(n, b)
		}
	}
	return out
}

func listNames(t *testing.T, fsys *MemFS) []string {
	t.Helper()
	names, err := fsys.List()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestAppendNeverSyncs: an Append that rolls to a new segment calls no
// fsync (the driver holds its lock during Append); the new segment keeps a
// temporary name until the sync task that fsyncs the old one renames it.
func TestAppendNeverSyncs(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, Options{Logger: quiet(), SegmentSize: 200})
	defer s.Close()
	mustAppend(t, s, publish(1, string(make([]byte, 150)), "q"))
	fsys.FailNextSyncs(1, errors.New("an fsync inside Append"))
	mustAppend(t, s, publish(2, string(make([]byte, 150)), "q")) // rolls
	mustAppend(t, s, publish(3, string(make([]byte, 150)), "q")) // no second roll while one is pending
	if s.Stats().Segments != 2 {
		t.Fatalf("segments %d, want 2 (one roll pending at a time)", s.Stats().Segments)
	}
	want := []string{segName(1), segName(2) + tmpSuffix}
	if got := listNames(t, fsys); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	fsys.FailNextSyncs(0, nil)
	if !s.Pending() {
		t.Fatal("a pending roll is not reported as pending work")
	}
	mustSync(t, s)
	want = []string{segName(1), segName(2)}
	if got := listNames(t, fsys); !slices.Equal(got, want) {
		t.Fatalf("after Sync: files %v, want %v", got, want)
	}
	if s.Pending() {
		t.Fatal("work pending after Sync")
	}
}

// TestInterruptedRollAfterProcessCrash: kill -9 while a roll is pending
// keeps everything written (the page cache has it, and under
// SyncInterval it may have been confirmed): Open adopts the new segment.
func TestInterruptedRollAfterProcessCrash(t *testing.T) {
	fsys := NewMemFS()
	opts := Options{Logger: quiet(), SegmentSize: 200}
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, publish(1, string(make([]byte, 150)), "q"))
	mustSync(t, s)
	mustAppend(t, s, publish(2, string(make([]byte, 150)), "q"), publish(3, "c", "q"))
	after := processCrash(t, fsys)
	s2, rec := mustOpen(t, after, opts)
	defer s2.Close()
	if got := rec.Messages[0].Messages; len(got) != 3 {
		t.Fatalf("recovered %+v, want messages 1, 2 and 3", got)
	}
	if len(rec.Damage) != 0 {
		t.Fatalf("damage reported: %+v", rec.Damage)
	}
	want := []string{segName(1), segName(2)}
	if got := listNames(t, after); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	// It goes on from there: the adopted segment is the active one.
	mustAppend(t, s2, publish(4, "d", "q"))
	mustSync(t, s2)
}

// TestInterruptedRollAfterPowerLoss: a power cut while a roll is pending
// keeps what was synced; the unsynced new segment is gone (MemFS drops
// directory entries not synced), and if its entry survived but the old
// segment was torn, Open drops it and reports it.
func TestInterruptedRollAfterPowerLoss(t *testing.T) {
	opts := Options{Logger: quiet(), SegmentSize: 200}
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, opts)
	mustAppend(t, s, publish(1, string(make([]byte, 150)), "q"))
	mustSync(t, s)
	mustAppend(t, s, publish(2, "b", "q"))                       // unsynced tail of segment 1
	mustAppend(t, s, publish(3, string(make([]byte, 150)), "q")) // rolls
	tmp, ok := fsys.ReadFile(segName(2) + tmpSuffix)
	if !ok {
		t.Fatal("no temporary segment after the roll")
	}
	fsys.Crash(5) // tears segment 1's unsynced tail... or not: it was not the last write
	s1, ok := fsys.ReadFile(segName(1))
	if !ok {
		t.Fatal("segment 1 lost")
	}
	// Make the old segment torn for sure and bring back the new segment's
	// directory entry, as a disk that reorders its writes might.
	fsys.WriteFile(segName(1), append(s1, 9, 0, 0, 0, 1))
	fsys.WriteFile(segName(2)+tmpSuffix, tmp)
	s2, rec := mustOpen(t, fsys, opts)
	defer s2.Close()
	if got := rec.Messages[0].Messages; len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("recovered %+v, want only the synced message 1", got)
	}
	if len(rec.Damage) != 2 || rec.Damage[1].Segment != segName(2)+tmpSuffix {
		t.Fatalf("damage %+v, want the torn tail and the dropped unfinished segment", rec.Damage)
	}
	want := []string{segName(1)}
	if got := listNames(t, fsys); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

// TestCompactionStepsAreBounded: EndSync relocates at most relocateStep
// messages, and a segment is removed by a later task's Run (outside the
// driver's lock), never by EndSync, and only once its relocated copies
// are durable.
func TestCompactionStepsAreBounded(t *testing.T) {
	fsys := NewMemFS()
	opts := Options{Logger: quiet(), SegmentSize: 64 << 10}
	s, _ := mustOpen(t, fsys, opts)
	defer s.Close()
	// Segment 1: many small pinned messages and one big settled one;
	// then enough settled traffic to exceed the bound.
	n := uint64(3 * relocateStep)
	var recs []Record
	for seq := uint64(1); seq <= n; seq++ {
		recs = append(recs, publish(seq, "p", "q"))
	}
	mustAppend(t, s, recs...)
	seq := n + 1
	for s.Stats().Segments < 8 {
		mustAppend(t, s, publish(seq, string(make([]byte, 4000)), "r"), settle(seq, "r"))
		seq++
		// Only run tasks up to here by hand: no compaction yet.
		task, err := s.BeginSync()
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Run(); err != nil {
			t.Fatal(err)
		}
		s.durable = max(s.durable, task.upTo)
		if task.roll != nil {
			s.rolling = nil
		}
	}
	if !s.wantRelocation() {
		t.Fatalf("test setup: no relocation wanted: %+v", s.Stats())
	}
	before := s.Appended()
	task, err := s.BeginSync()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EndSync(task, task.Run()); err != nil {
		t.Fatal(err)
	}
	if moved := s.Appended() - before; moved == 0 || moved > relocateStep {
		t.Fatalf("one EndSync relocated %d messages, want 1..%d", moved, relocateStep)
	}
	if !slices.Contains(listNames(t, fsys), segName(1)) {
		t.Fatal("segment 1 removed before its messages were relocated")
	}
	steps := 1
	for s.Pending() {
		task, err := s.BeginSync()
		if err != nil {
			t.Fatal(err)
		}
		doomed := len(task.doomed)
		if _, err := s.EndSync(task, task.Run()); err != nil {
			t.Fatal(err)
		}
		if doomed > 0 && slices.Contains(listNames(t, fsys), segName(1)) {
			t.Fatal("segment 1 still on disk after the task that removes it")
		}
		steps++
		if steps > 100 {
			t.Fatalf("compaction does not converge: %+v", s.Stats())
		}
	}
	if slices.Contains(listNames(t, fsys), segName(1)) {
		t.Fatal("segment 1 never removed")
	}
	if steps < 3 {
		t.Fatalf("%d tasks relocated %d messages: not bounded steps", steps, n)
	}
	checkAccounting(t, s)
	for q := uint64(1); q <= n; q++ {
		if m, err := s.ReadMessage(q); err != nil || string(m.Body) != "p" {
			t.Fatalf("pinned message %d: %+v %v", q, m, err)
		}
	}
}
