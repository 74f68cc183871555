package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file in the data directory that holds the flock.
const lockFileName = "LOCK"

// OSFS is the real file system under Dir.
type OSFS struct {
	Dir string
}

// NewOSFS returns the file system rooted at dir, creating dir (0700) if it
// does not exist yet.
func NewOSFS(dir string) (*OSFS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory %s: %w (check the path and its permissions)", dir, err)
	}
	return &OSFS{Dir: dir}, nil
}

func (f *OSFS) path(name string) string { return filepath.Join(f.Dir, name) }

// Create implements FS.
func (f *OSFS) Create(name string) (File, error) {
	fh, err := os.OpenFile(f.path(name), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{fh}, nil
}

// Open implements FS.
func (f *OSFS) Open(name string) (File, error) {
	fh, err := os.OpenFile(f.path(name), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return osFile{fh}, nil
}

// Remove implements FS.
func (f *OSFS) Remove(name string) error { return os.Remove(f.path(name)) }

// Rename implements FS.
func (f *OSFS) Rename(oldName, newName string) error {
	return os.Rename(f.path(oldName), f.path(newName))
}

// List implements FS.
func (f *OSFS) List() ([]string, error) {
	ents, err := os.ReadDir(f.Dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// SyncDir implements FS: fsync on the directory makes entries durable.
func (f *OSFS) SyncDir() error {
	d, err := os.Open(f.Dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock implements FS with flock(2) on Dir/LOCK. The kernel drops the lock
// when the process dies, so a kill -9 never leaves a stale lock behind.
func (f *OSFS) Lock() (io.Closer, error) {
	fh, err := os.OpenFile(f.path(lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open lock file in %s: %w", f.Dir, err)
	}
	for {
		err = syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = fh.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is in use by another broker process (stop it or choose another --data-dir)", ErrLocked, f.Dir)
		}
		return nil, fmt.Errorf("store: lock %s: %w", f.Dir, err)
	}
	return fh, nil
}

type osFile struct{ f *os.File }

func (o osFile) Write(p []byte) (int, error)             { return o.f.Write(p) }
func (o osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }
func (o osFile) Sync() error                             { return o.f.Sync() }
func (o osFile) Truncate(size int64) error               { return o.f.Truncate(size) }
func (o osFile) Close() error                            { return o.f.Close() }
func (o osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
