package inbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// line is one newline-separated segment of a store file.
type line struct {
	no      int   // 1-based
	off     int64 // offset of its first byte
	end     int64 // offset just after it (after its newline, if any)
	data    []byte
	newline bool // ended by '\n' (false only for the last segment)
	tooLong bool // longer than the limit; data is then truncated
}

// scanLines calls fn for each line of r. data is only valid during the call.
// Lines above maxLine bytes are reported with tooLong set instead of being
// held in memory.
func scanLines(r io.Reader, maxLine int, fn func(l *line) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf []byte
		l   line
		off int64
	)
	for no := 1; ; no++ {
		l = line{no: no, off: off}
		buf = buf[:0]
		for {
			chunk, err := br.ReadSlice('\n')
			off += int64(len(chunk))
			if !l.tooLong {
				if len(buf)+len(chunk) > maxLine+1 {
					l.tooLong = true
				} else {
					buf = append(buf, chunk...)
				}
			}
			if err == nil {
				l.newline = true
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		l.end = off
		if l.newline && !l.tooLong {
			buf = buf[:len(buf)-1]
		}
		if l.end == l.off {
			return nil // clean end of file
		}
		l.data = buf
		if err := fn(&l); err != nil {
			return err
		}
		if !l.newline {
			return nil
		}
	}
}

// Scan reads a store file's records from r in order, for tools and checkers
// that read a file without owning it. A bad line is a *CorruptError; bytes
// after the last newline give an error wrapping ErrTornTail after every
// complete record was passed to fn (a live receiver may be mid-write).
func Scan(r io.Reader, fn func(Record) error) error {
	return scanLines(r, DefaultMaxRecordBytes, func(l *line) error {
		if !l.newline {
			return fmt.Errorf("%w at line %d (byte %d): %s", ErrTornTail, l.no, l.off, quotePreview(l.data, 64))
		}
		if l.tooLong {
			return &CorruptError{Line: l.no, Offset: l.off, Reason: fmt.Sprintf("line longer than %d bytes", DefaultMaxRecordBytes)}
		}
		rec, err := decodeRecord(l.data)
		if err != nil {
			return &CorruptError{Line: l.no, Offset: l.off, Reason: err.Error()}
		}
		return fn(rec)
	})
}
