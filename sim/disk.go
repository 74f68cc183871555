package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ErrCrashed is returned by every operation on a simulated disk whose owner
// has crashed (or is crashing in the middle of an fsync). The owning node
// sees it, stops, and the world restarts it later from what is durable.
var ErrCrashed = errors.New("sim: the process owning this disk crashed; restart it from the durable contents")

// ErrFsyncFailed is the injected fsync failure: the data written so far is
// still there but not durable. The store must not treat it as stored.
var ErrFsyncFailed = errors.New("sim: injected fsync failure; the data is not durable, retry or reopen")

// DiskFaults are a simulated disk's fault probabilities.
type DiskFaults struct {
	// SyncFail is the probability that an fsync fails (nothing becomes durable).
	SyncFail float64
	// CrashInSync is the probability that the process crashes during an
	// fsync: a random prefix of the un-synced bytes reaches the disk.
	CrashInSync float64
	// Torn is the probability that, on any crash, the last un-synced write
	// survives partly (a torn tail the store must repair on open).
	Torn float64
}

// Disk is a receiver's simulated durable storage. Writes are buffered until
// Sync; a crash keeps only what was synced, possibly plus a torn part of
// what was not. It implements clients/inbox's FS and File interfaces, so the
// real store logic runs over it.
type Disk struct {
	w      *World
	owner  string
	faults DiskFaults
	files  map[string]*diskFile
	// crashing is set when an injected crash happened inside Sync: from then
	// on every call fails until the owner restarts (Recover).
	crashing bool

	syncs, syncFails, crashesInSync, torn uint64
}

// diskFile is one file: data is what the process sees, durable what
// survives a crash.
type diskFile struct {
	data    []byte
	durable []byte
	locked  bool
}

func newDisk(w *World, owner string, f DiskFaults) *Disk {
	return &Disk{w: w, owner: owner, faults: f, files: map[string]*diskFile{}}
}

// CrashPending reports whether an fsync just crashed the owner.
func (d *Disk) CrashPending() bool { return d.crashing }

// OpenLocked implements wal.FS.
func (d *Disk) OpenLocked(name string) (*DiskHandle, error) {
	if d.crashing {
		return nil, ErrCrashed
	}
	f, ok := d.files[name]
	if !ok {
		// Creating a file is durable at once (the store syncs the
		// directory on a real file system; the sim does not model that loss).
		f = &diskFile{}
		d.files[name] = f
	}
	if f.locked {
		return nil, fmt.Errorf("sim disk %s: %s is locked by another open handle", d.owner, name)
	}
	f.locked = true
	return &DiskHandle{d: d, f: f, name: name}, nil
}

// Crash applies a crash of the owner: every file falls back to its durable
// contents, and with probability Torn keeps a random prefix of the bytes
// appended since the last sync. Locks are released (the process is gone).
func (d *Disk) Crash() {
	names := make([]string, 0, len(d.files))
	for n := range d.files {
		names = append(names, n)
	}
	sort.Strings(names) // the rng draws below must happen in a fixed order
	for _, n := range names {
		f := d.files[n]
		f.locked = false
		appendedOnly := len(f.data) > len(f.durable) && bytes.HasPrefix(f.data, f.durable)
		if appendedOnly && d.w.rng.chance(d.faults.Torn) {
			extra := f.data[len(f.durable):]
			keep := d.w.rng.intn(len(extra)) // strictly less than all of it
			f.durable = append(f.durable, extra[:keep]...)
			d.torn++
		}
		f.data = append([]byte(nil), f.durable...)
	}
	d.crashing = false
}

// Contents returns what the process currently sees in name (for tests).
func (d *Disk) Contents(name string) []byte {
	if f, ok := d.files[name]; ok {
		return f.data
	}
	return nil
}

// DiskHandle is an open, locked file of a Disk (wal.File).
type DiskHandle struct {
	d      *Disk
	f      *diskFile
	name   string
	closed bool
}

func (h *DiskHandle) usable() error {
	if h.d.crashing {
		return ErrCrashed
	}
	if h.closed {
		return fmt.Errorf("sim disk %s: %s used after Close", h.d.owner, h.name)
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (h *DiskHandle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.usable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("sim disk: negative offset %d", off)
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write appends p.
func (h *DiskHandle) Write(p []byte) (int, error) {
	if err := h.usable(); err != nil {
		return 0, err
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

// Size is the current length.
func (h *DiskHandle) Size() (int64, error) {
	if err := h.usable(); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

// Truncate cuts the file to size bytes.
func (h *DiskHandle) Truncate(size int64) error {
	if err := h.usable(); err != nil {
		return err
	}
	if size < 0 || size > int64(len(h.f.data)) {
		return fmt.Errorf("sim disk: truncate %s to %d: out of range (size %d)", h.name, size, len(h.f.data))
	}
	h.f.data = h.f.data[:size]
	return nil
}

// Sync makes everything durable, fails, or crashes the owner, as the faults
// draw.
func (h *DiskHandle) Sync() error {
	if err := h.usable(); err != nil {
		return err
	}
	d := h.d
	d.syncs++
	if d.w.rng.chance(d.faults.CrashInSync) {
		d.crashesInSync++
		d.crashing = true
		// Part of the un-synced data may already be on the platter; Crash
		// (run by the node's restart) decides how much through Torn, and a
		// crash inside fsync always tears when there is something to tear.
		if len(h.f.data) > len(h.f.durable) && bytes.HasPrefix(h.f.data, h.f.durable) {
			extra := h.f.data[len(h.f.durable):]
			h.f.durable = append(h.f.durable, extra[:d.w.rng.intn(len(extra))]...)
		}
		d.w.trace.begin(d.w.sched.now, d.owner).word("crash-in-fsync").end()
		return ErrCrashed
	}
	if d.w.rng.chance(d.faults.SyncFail) {
		d.syncFails++
		d.w.trace.begin(d.w.sched.now, d.owner).word("fsync-failed").end()
		return ErrFsyncFailed
	}
	h.f.durable = append(h.f.durable[:0], h.f.data...)
	return nil
}

// Close releases the lock.
func (h *DiskHandle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	h.f.locked = false
	return nil
}
