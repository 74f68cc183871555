// Package userfile reads and writes the users file on disk: it is the
// driver-level half of broker/access (which parses and validates the
// bytes). Load refuses a file other users could read or write, Save
// replaces the file atomically with mode 0600, and Update serialises
// read-modify-write cycles across processes with an advisory lock.
// users.go holds what `ciphermq user` does to one user (LoadUser,
// EditUser, ParseTags) and how it lists them (WriteListTable,
// WriteListJSON).
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ciphermq/ciphermq/broker/access"
)

// Perm is the mode the users file is written with, and the most Load
// accepts: it holds password hashes, so only its owner may read it.
const Perm fs.FileMode = 0o600

// Load reads, parses and validates the users file at path. It refuses a
// file that is not a regular file or whose mode lets group or others read
// or write it. A missing file gives an error that matches fs.ErrNotExist.
func Load(path string) (*access.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("users file %s: not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("users file %s: mode %04o lets group or others access it, and it holds password hashes: run chmod 600 %s",
			path, st.Mode().Perm(), path)
	}
	// Read one byte past the limit so that ParseFile sees (and names) an
	// oversized file without this reading all of it.
	data, err := io.ReadAll(io.LimitReader(f, access.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	uf, err := access.ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return uf, nil
}

// Save writes f to path atomically: it encodes and re-parses f (so it never
// writes a file Load would refuse), writes a temporary file with mode 0600
// in the same directory, syncs it, renames it over path and syncs the
// directory. A crash leaves either the old file or the new one, whole.
func Save(path string, f *access.File) error {
	data, err := access.EncodeFile(f)
	if err != nil {
		return err
	}
	if _, err := access.ParseFile(data); err != nil {
		return fmt.Errorf("users file: refusing to write a file that does not parse back: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it explicit and independent
	// of that detail.
	if err := tmp.Chmod(Perm); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("users file: writing %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("users file: syncing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("users file: closing %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	ok = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("users file: opening directory to sync it: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("users file: syncing directory %s: %w", dir, err)
	}
	return nil
}

// Update applies fn to the users file at path and saves the result, while
// holding an exclusive advisory lock (flock) on path+".lock", so that
// concurrent Updates (from this or other processes) run one after the other
// and none is lost. A missing file starts empty (version FileVersion, no
// users). If fn returns an error, nothing is written and Update returns it.
func Update(path string, fn func(*access.File) error) error {
	unlock, err := lock(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	f, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = &access.File{Version: access.FileVersion}, nil
	}
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return Save(path, f)
}
