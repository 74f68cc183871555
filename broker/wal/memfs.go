package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"syscall"
)

// MemFS is an in-memory FS with the crash semantics of a real disk under
// power loss: bytes written but not synced, and directory changes not
// followed by SyncDir, are gone after Crash. It can tear the last write and
// inject write and fsync errors, so tests and the simulator can show what
// the store does when the disk misbehaves. It is safe for concurrent use
// (the simulator uses it from one goroutine, server tests from several).
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*memFile // what a running process sees
	durable map[string]*memFile // the directory as of the last SyncDir
	locked  bool
	gen     int // bumped on Crash so handles from before it go stale

	lastWrite *memFile

	capacity  int64 // 0: unlimited
	failSyncs int
	syncErr   error
	failWrite error
}

type memFile struct {
	data []byte // every byte written
	// synced: data[:synced] survives a crash. Writes only append and
	// truncation lowers it, so the synced prefix never changes under it.
	synced int
}

// NewMemFS returns an empty in-memory disk.
func NewMemFS() *MemFS {
	return &MemFS{files: map[string]*memFile{}, durable: map[string]*memFile{}}
}

// SetCapacity bounds the total bytes of all files; a write that does not
// fit writes what fits and fails with ENOSPC, like a full disk. Zero: no limit.
func (m *MemFS) SetCapacity(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = n
}

// FailNextSyncs makes the next n file or directory syncs fail with err
// (EIO if err is nil). The data stays unsynced, as after a real fsync error.
func (m *MemFS) FailNextSyncs(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		err = syscall.EIO
	}
	m.failSyncs, m.syncErr = n, err
}

// FailNextWrite makes the next write fail with err without writing anything.
func (m *MemFS) FailNextWrite(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failWrite = err
}

// Crash simulates power loss: the directory reverts to its last SyncDir and
// every file to its synced bytes. If tornBytes > 0, the file written last
// keeps up to tornBytes of its unsynced bytes (a torn write). Handles opened
// before the crash fail from now on; the lock is released.
func (m *MemFS) Crash(tornBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]*memFile, len(m.durable))
	for name, f := range m.durable {
		keep := f.synced
		if f == m.lastWrite && tornBytes > 0 && len(f.data) > f.synced {
			keep += min(tornBytes, len(f.data)-f.synced)
		}
		next[name] = &memFile{data: slices.Clone(f.data[:keep]), synced: keep}
	}
	m.files = next
	m.durable = make(map[string]*memFile, len(next))
	for k, v := range next {
		m.durable[k] = v
	}
	m.lastWrite = nil
	m.locked = false
	m.gen++
}

// ReadFile returns the current bytes of a file (for tests).
func (m *MemFS) ReadFile(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(f.data), true
}

// WriteFile replaces a file's bytes, synced (for tests that damage a log).
func (m *MemFS) WriteFile(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &memFile{data: slices.Clone(data), synced: len(data)}
	m.files[name] = f
	m.durable[name] = f
}

// Used is the total bytes of all files.
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usedLocked()
}

func (m *MemFS) usedLocked() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(f.data))
	}
	return n
}

func (m *MemFS) syncFault() error {
	if m.failSyncs > 0 {
		m.failSyncs--
		return m.syncErr
	}
	return nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	f := &memFile{}
	m.files[name] = f
	return &memHandle{fs: m, f: f, gen: m.gen, name: name}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memHandle{fs: m, f: f, gen: m.gen, name: name}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldName, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[oldName]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	delete(m.files, oldName)
	m.files[newName] = f
	return nil
}

// List implements FS.
func (m *MemFS) List() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.syncFault(); err != nil {
		return err
	}
	m.durable = make(map[string]*memFile, len(m.files))
	for k, v := range m.files {
		m.durable[k] = v
	}
	return nil
}

// Lock implements FS.
func (m *MemFS) Lock() (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked {
		return nil, fmt.Errorf("%w: the in-memory disk is in use by another store", ErrLocked)
	}
	m.locked = true
	return memLock{m: m, gen: m.gen}, nil
}

type memLock struct {
	m   *MemFS
	gen int
}

func (l memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.gen == l.m.gen {
		l.m.locked = false
	}
	return nil
}

// errStale: a handle from before a Crash was used.
var errStale = errors.New("memfs: file handle from before a crash")

type memHandle struct {
	fs     *MemFS
	f      *memFile
	gen    int
	name   string
	closed bool
}

func (h *memHandle) check() error {
	if h.closed {
		return fs.ErrClosed
	}
	if h.gen != h.fs.gen {
		return errStale
	}
	return nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	m := h.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	if err := m.failWrite; err != nil {
		m.failWrite = nil
		return 0, err
	}
	n := len(p)
	var err error
	if m.capacity > 0 {
		if room := m.capacity - m.usedLocked(); int64(n) > room {
			n = int(max(room, 0))
			err = &fs.PathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
		}
	}
	h.f.data = append(h.f.data, p[:n]...)
	if n > 0 {
		m.lastWrite = h.f
	}
	return n, err
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	m := h.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
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

func (h *memHandle) Sync() error {
	m := h.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if err := m.syncFault(); err != nil {
		return err
	}
	h.f.synced = len(h.f.data)
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	m := h.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.check(); err != nil {
		return err
	}
	if size < 0 || size > int64(len(h.f.data)) {
		return fmt.Errorf("memfs: truncate %s to %d: out of range", h.name, size)
	}
	// Full slice expression: later appends must not write into bytes a
	// crash could still need (none here, but keep the prefix immutable).
	h.f.data = h.f.data[:size:size]
	// A real truncate is durable only after an fsync too; treating it as
	// immediate keeps a torn tail that recovery reported from coming back.
	h.f.synced = min(h.f.synced, int(size))
	return nil
}

func (h *memHandle) Size() (int64, error) {
	m := h.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := h.check(); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error {
	h.closed = true
	return nil
}
