package record

import "errors"

var (
	// ErrBadRecord: a record could not be decoded.
	ErrBadRecord = errors.New("store: bad record")
	// ErrTooLarge: a record above the size limit.
	ErrTooLarge = errors.New("store: record too large")
)
