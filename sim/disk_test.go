package sim

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestDiskCrashLosesUnsyncedWrites(t *testing.T) {
	w := newWorld(1, nil)
	d := newDisk(w, "r1", DiskFaults{})
	h, err := d.OpenLocked("out")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenLocked("out"); err == nil {
		t.Fatal("second open of a locked file succeeded")
	}
	h.Write([]byte("durable\n"))
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("volatile\n"))
	if got := d.Contents("out"); string(got) != "durable\nvolatile\n" {
		t.Fatalf("before crash the process sees %q", got)
	}
	d.Crash()
	if got := d.Contents("out"); string(got) != "durable\n" {
		t.Fatalf("after crash: %q, want only the synced part", got)
	}
	h2, err := d.OpenLocked("out")
	if err != nil {
		t.Fatalf("reopen after crash: %v (the crash must release the lock)", err)
	}
	buf := make([]byte, 100)
	n, err := h2.ReadAt(buf, 0)
	if !errors.Is(err, io.EOF) || string(buf[:n]) != "durable\n" {
		t.Fatalf("ReadAt = %q, %v", buf[:n], err)
	}
}

func TestDiskTornCrashKeepsAStrictPrefixOfTheUnsyncedTail(t *testing.T) {
	w := newWorld(2, nil)
	d := newDisk(w, "r1", DiskFaults{Torn: 1})
	h, _ := d.OpenLocked("out")
	h.Write([]byte("a\n"))
	h.Sync()
	tail := []byte("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n")
	h.Write(tail)
	d.Crash()
	got := d.Contents("out")
	if !bytes.HasPrefix(got, []byte("a\n")) || len(got) >= 2+len(tail) {
		t.Fatalf("torn crash left %q", got)
	}
	if d.torn != 1 {
		t.Fatalf("torn count = %d", d.torn)
	}
}

func TestDiskFsyncFailureAndCrashInFsync(t *testing.T) {
	w := newWorld(3, nil)
	d := newDisk(w, "r1", DiskFaults{SyncFail: 1})
	h, _ := d.OpenLocked("out")
	h.Write([]byte("x\n"))
	if err := h.Sync(); !errors.Is(err, ErrFsyncFailed) {
		t.Fatalf("Sync = %v, want ErrFsyncFailed", err)
	}
	d.Crash()
	if len(d.Contents("out")) != 0 {
		t.Fatal("a failed fsync made data durable")
	}

	d2 := newDisk(w, "r2", DiskFaults{CrashInSync: 1})
	h2, _ := d2.OpenLocked("out")
	h2.Write([]byte("y\n"))
	if err := h2.Sync(); !errors.Is(err, ErrCrashed) || !d2.CrashPending() {
		t.Fatalf("Sync = %v, pending %v; want ErrCrashed and a pending crash", err, d2.CrashPending())
	}
	if _, err := h2.Write([]byte("z")); !errors.Is(err, ErrCrashed) {
		t.Fatal("a crashing process could still write")
	}
	d2.Crash()
	if got := d2.Contents("out"); len(got) >= 2 {
		t.Fatalf("crash inside fsync kept %q; want a strict prefix of the unsynced bytes", got)
	}
}
