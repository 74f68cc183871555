package inbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS opens store files. OSFS is the production implementation; the
// simulator provides one whose un-fsynced writes vanish on a crash.
type FS interface {
	// OpenLocked opens the named file for reading and appending, creating it
	// empty (mode 0600) if it does not exist, and holds an exclusive lock on
	// it until the File is closed. If another holder has the lock it returns
	// an error wrapping ErrLocked without waiting.
	OpenLocked(name string) (File, error)
}

// File is an open, locked store file.
type File interface {
	io.ReaderAt
	// Write appends p at the current end of the file, whatever was read or
	// truncated before. Bytes written are not durable until Sync returns.
	io.Writer
	// Size is the current length of the file, durable or not.
	Size() (int64, error)
	// Truncate cuts the file to size bytes; later writes append after them.
	Truncate(size int64) error
	// Sync makes every write and truncation so far durable.
	Sync() error
	// Close releases the lock. It does not imply Sync.
	Close() error
}

// OSFS is the operating system's file system. Its files are opened with
// O_APPEND and locked with flock, so two processes (or two Opens in one
// process) cannot write the same store file at once.
type OSFS struct{}

// OpenLocked implements FS.
func (OSFS) OpenLocked(name string) (File, error) {
	_, statErr := os.Stat(name)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	if created {
		// A new file's directory entry is only durable once the directory
		// itself is synced; without this a crash could lose the whole file
		// after records in it were acked.
		if err := syncDir(filepath.Dir(name)); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("sync directory of new file: %w", err)
		}
	}
	return osFile{f}, nil
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", f.Name())
	}
	return st.Size(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
