package wal

import (
	"errors"

	"github.com/ciphermq/ciphermq/broker/record"
)

var (
	// ErrLocked: another broker process holds the data directory.
	ErrLocked = errors.New("store: data directory locked")
	// ErrFailed: an earlier write or fsync failed; the store refuses all
	// further writes because it no longer knows what is on disk. Close it
	// and Open it again (which replays the log) to continue.
	ErrFailed = errors.New("store: failed after a write or fsync error")
	// ErrCorrupt: a record that is not at the tail of the log is damaged.
	// The error names the segment and the offset; nothing is truncated.
	ErrCorrupt = errors.New("store: corrupt log")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrTooLarge: a record above Options.MaxRecordSize.
	ErrTooLarge = record.ErrTooLarge
	// ErrBadRecord: a record could not be decoded.
	ErrBadRecord = record.ErrBadRecord
)
