package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// faultFS wraps OSFS and injects failures.
type faultFS struct {
	openErr  error
	writeErr error
	syncErr  error
	files    []*faultFile
}

func (f *faultFS) OpenLocked(name string) (File, error) {
	if f.openErr != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.openErr}
	}
	inner, err := OSFS{}.OpenLocked(name)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: inner, fs: f}
	f.files = append(f.files, ff)
	return ff, nil
}

type faultFile struct {
	File
	fs     *faultFS
	syncs  int
	writes int
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.writeErr != nil {
		return 0, f.fs.writeErr
	}
	f.writes++
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.syncErr != nil {
		return f.fs.syncErr
	}
	f.syncs++
	return f.File.Sync()
}

func TestOpenErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	plainFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(plainFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		fs   FS
		want []string
		is   error
	}{
		{"permission denied", filepath.Join(dir, "x.jsonl"), &faultFS{openErr: fs.ErrPermission},
			[]string{"permission denied", "directory you can write"}, fs.ErrPermission},
		{"missing directory", filepath.Join(dir, "nope", "x.jsonl"), nil,
			[]string{"directory does not exist", "create it"}, fs.ErrNotExist},
		{"path is a directory", dir, nil, []string{"is a directory", "give a file name"}, nil},
		{"parent is a file", filepath.Join(plainFile, "x.jsonl"), nil, []string{"not a directory"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.path, Options{FS: tc.fs})
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the path", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestRealPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; TestOpenErrorsSayWhatToDo covers the message with an injected EACCES")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	_, err := Open(filepath.Join(dir, "x.jsonl"), Options{})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "directory you can write") {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}

func TestFailedSyncBreaksTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	ffs := &faultFS{}
	s, err := Open(path, Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec("a", "m")); err != nil {
		t.Fatal(err)
	}
	ffs.syncErr = fmt.Errorf("EIO")
	if err := s.Sync(); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("Sync with a failing disk: %v, want ErrBroken mentioning EIO", err)
	}
	// Even after the disk recovers, the store refuses: what reached the disk is unknown.
	ffs.syncErr = nil
	if err := s.Append(rec("b", "m")); !errors.Is(err, ErrBroken) {
		t.Errorf("Append after a failed sync: %v, want ErrBroken", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrBroken) {
		t.Errorf("Sync after a failed sync: %v, want ErrBroken", err)
	}
	if err := s.Close(); !errors.Is(err, ErrBroken) {
		t.Errorf("Close of a broken store: %v, want ErrBroken", err)
	}
	// Reopening rebuilds from the disk and works again.
	s2 := openT(t, path, Options{})
	if err := s2.Append(rec("b", "m")); err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
}

func TestFailedWriteBreaksTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	ffs := &faultFS{writeErr: fmt.Errorf("ENOSPC")}
	s, err := Open(path, Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(rec("a", "m")); err != nil {
		t.Fatalf("buffered Append should not touch the disk yet: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "ENOSPC") {
		t.Fatalf("Sync on a full disk: %v, want ErrBroken mentioning ENOSPC", err)
	}
}

func TestGroupCommitOneSyncPerBatch(t *testing.T) {
	ffs := &faultFS{}
	s := openT(t, filepath.Join(t.TempDir(), "out.jsonl"), Options{FS: ffs})
	opened := ffs.files[0].syncs // Open's own fsync of what it read
	for i := range 100 {
		if err := s.Append(rec(fmt.Sprint(i), "m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if f := ffs.files[0]; f.syncs-opened != 1 || f.writes != 1 {
		t.Fatalf("a batch of 100 appends cost %d writes and %d fsyncs, want 1 and 1", f.writes, f.syncs-opened)
	}
}

func TestSyncWithNothingAppendedDoesNotFsync(t *testing.T) {
	ffs := &faultFS{}
	s := openT(t, filepath.Join(t.TempDir(), "out.jsonl"), Options{FS: ffs})
	opened := ffs.files[0].syncs
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(rec("a", "m")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if got := ffs.files[0].syncs - opened; got != 1 {
		t.Fatalf("%d fsyncs for one append and four Syncs, want 1", got)
	}
}
