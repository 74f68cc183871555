package wal

import "io"

// FS is the small slice of a file system the store needs, rooted at one
// directory. It exists so that tests and the simulator can hand the store a
// disk of their own (MemFS) with crash semantics the real kernel only shows
// on a power cut.
type FS interface {
	// Create makes a new, empty file open for reading and appending; it
	// fails if the name exists. The file's directory entry is durable only
	// after SyncDir.
	Create(name string) (File, error)
	// Open opens an existing file for reading and appending.
	Open(name string) (File, error)
	// Remove deletes a file; durable after SyncDir.
	Remove(name string) error
	// Rename replaces newName by oldName atomically; durable after SyncDir.
	Rename(oldName, newName string) error
	// List returns the names of the regular files in the directory.
	List() ([]string, error)
	// SyncDir makes creations, removals and renames durable.
	SyncDir() error
	// Lock takes an exclusive lock on the directory for this process; a
	// second Lock (from any process) fails with ErrLocked until the returned
	// closer is closed.
	Lock() (io.Closer, error)
}

// File is an open file. Writes always append at the end.
type File interface {
	io.Writer
	io.ReaderAt
	// Sync makes every byte written so far durable.
	Sync() error
	// Truncate cuts the file to size bytes (used to drop a torn tail).
	Truncate(size int64) error
	// Size is the current length, written bytes included.
	Size() (int64, error)
	Close() error
}
