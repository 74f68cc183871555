package inbox

import (
	"errors"
	"fmt"
)

var (
	// ErrLocked: another receiver (process or Store) has the file open.
	ErrLocked = errors.New("store file is locked by another receiver: stop it, or give this one another output file")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store is closed")
	// ErrBroken: an earlier write or fsync failed, so what is durable is
	// unknown. The Store refuses all further work; close it and Open the
	// file again, which rebuilds the truth from the disk.
	ErrBroken = errors.New("store is unusable after a failed write or sync: close it and open the file again")
	// ErrDuplicate: Append was given a message id that is already stored.
	ErrDuplicate = errors.New("message id is already stored")
	// ErrInvalidRecord: Append was given a record that cannot be stored.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrTornTail: Scan met bytes after the last newline (a record still
	// being written, or torn by a crash).
	ErrTornTail = errors.New("incomplete last line")
)

// CorruptError reports a line that is not a valid record in a place where a
// crash of this store cannot have left one. The file needs a human: the
// message says which line, so it can be inspected and fixed or moved away.
type CorruptError struct {
	Path   string
	Line   int   // 1-based
	Offset int64 // byte offset of the start of the line
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store file %s is corrupt at line %d (byte %d): %s; "+
		"this is not a torn write from a crash, so it will not be repaired automatically: "+
		"inspect the line, fix or remove it, or move the file away and start a new one",
		e.Path, e.Line, e.Offset, e.Reason)
}
