package wal

import (
	"errors"
	"syscall"
	"testing"
)

func TestDiskFullFailsTheStoreAndReopenRecovers(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	mustAppend(t, s, Record{Type: RecDeclareQueue, Queue: "q"}, publish(1, "safe", "q"))
	mustSync(t, s)
	fsys.SetCapacity(fsys.Used() + 20) // room for part of one more record
	_, err := s.Append(publish(2, "this one does not fit on the disk", "q"))
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ErrFailed wrapping ENOSPC", err)
	}
	if _, err := s.Append(publish(3, "x", "q")); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after failure: %v", err)
	}
	if _, err := s.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("sync after failure: %v", err)
	}
	if s.Durable() != 2 {
		t.Fatalf("durable LSN moved to %d after a failure", s.Durable())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close of a failed store: %v", err)
	}
	// The operator frees space; the half-written record is a torn tail.
	fsys.SetCapacity(0)
	s, rec := mustOpen(t, fsys, testOpts())
	defer s.Close()
	if len(rec.Damage) != 1 || len(rec.Messages) != 1 || len(rec.Messages[0].Messages) != 1 {
		t.Fatalf("after disk full: damage %v messages %+v", rec.Damage, rec.Messages)
	}
	mustAppend(t, s, publish(2, "fits now", "q"))
	mustSync(t, s)
}

func TestFsyncErrorFailsTheStore(t *testing.T) {
	for _, crash := range []bool{false, true} {
		fsys := NewMemFS()
		s, _ := mustOpen(t, fsys, testOpts())
		mustAppend(t, s, publish(1, "synced", "q"))
		mustSync(t, s)
		mustAppend(t, s, publish(2, "never confirmed", "q"))
		fsys.FailNextSyncs(1, syscall.EIO)
		d, err := s.Sync()
		if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) || d != 1 {
			t.Fatalf("sync with EIO: durable %d err %v", d, err)
		}
		// A later sync must not report success for bytes whose fsync failed.
		if _, err := s.Sync(); !errors.Is(err, ErrFailed) {
			t.Fatalf("second sync after EIO: %v", err)
		}
		s.Close()
		if crash {
			fsys.Crash(0)
		}
		s, rec := mustOpen(t, fsys, testOpts())
		got := rec.Messages[0].Messages
		// Message 2 was never confirmed: it may come back (the bytes
		// reached the disk after all) or not; message 1 must.
		if got[0].Seq != 1 || (crash && len(got) != 1) {
			t.Fatalf("crash=%v: recovered %+v", crash, got)
		}
		s.Close()
	}
}

func TestWriteErrorFailsTheStore(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, testOpts())
	defer s.Close()
	fsys.FailNextWrite(syscall.EACCES)
	if _, err := s.Append(publish(1, "x", "q")); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EACCES) {
		t.Fatalf("append with a permission error: %v", err)
	}
	if !errors.Is(s.Err(), syscall.EACCES) {
		t.Fatalf("Err() = %v", s.Err())
	}
}

func TestFailedRollFsyncFailsTheNextSync(t *testing.T) {
	fsys := NewMemFS()
	s, _ := mustOpen(t, fsys, Options{Logger: quiet(), SegmentSize: 200})
	defer s.Close()
	mustAppend(t, s, publish(1, string(make([]byte, 150)), "q"))
	fsys.FailNextSyncs(2, nil) // the fsync of the sealed segment
	// Append rolls without syncing (that is the sync task's work), so the
	// failing fsync shows at the next Sync, which fails the store.
	mustAppend(t, s, publish(2, string(make([]byte, 150)), "q"))
	if _, err := s.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("sync after a roll with failing fsync: %v", err)
	}
	if _, err := s.Append(publish(3, "x", "q")); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after the failed sync: %v", err)
	}
}
