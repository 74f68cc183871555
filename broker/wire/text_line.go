package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong: a text line exceeds the line limit. The server replies with
// an error line and closes the connection (the rest of the line is unread,
// so the stream cannot be resynchronised cheaply).
var ErrLineTooLong = errors.New("wire: text line too long")

// LineTooLongError carries the limit; it matches ErrLineTooLong.
type LineTooLongError struct {
	Max int
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("wire: text line longer than %d bytes: split the command or use the native protocol", e.Max)
}

// Is makes errors.Is(err, ErrLineTooLong) true.
func (e *LineTooLongError) Is(target error) bool { return target == ErrLineTooLong }

// LineReader frames the text protocol: lines end in "\n", an optional "\r"
// before it is dropped. It is not safe for concurrent use.
type LineReader struct {
	br  *bufio.Reader
	max int
	err error // sticky
}

// NewLineReader returns a LineReader over r for lines of at most maxLine
// bytes, terminator excluded (<= 0 means DefaultMaxLineSize). If r is a
// *bufio.Reader large enough, it is used directly.
func NewLineReader(r io.Reader, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineSize
	}
	return &LineReader{br: bufio.NewReaderSize(r, maxLine+2), max: maxLine}
}

// Buffered reports bytes read from the stream but not yet returned as lines.
func (l *LineReader) Buffered() int { return l.br.Buffered() }

// ReadLine returns the next line without its terminator, valid until the next
// call. Any other read error that hits mid-line sticks as well. A last line without "\n" before the end of the stream is returned
// too (the reference broker needs no newline), then io.EOF. A line over the
// limit returns *LineTooLongError, and so does every later call.
func (l *LineReader) ReadLine() ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	line, err := l.br.ReadSlice('\n')
	switch {
	case err == nil:
		line = line[:len(line)-1]
	case errors.Is(err, bufio.ErrBufferFull):
		l.err = &LineTooLongError{Max: l.max}
		return nil, l.err
	case errors.Is(err, io.EOF):
		if len(line) == 0 {
			return nil, io.EOF
		}
		l.err = io.EOF
	default:
		// ReadSlice has consumed the partial line: the stream is out of
		// sync, so the error sticks.
		if len(line) > 0 {
			l.err = err
		}
		return nil, err
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > l.max {
		l.err = &LineTooLongError{Max: l.max}
		return nil, l.err
	}
	return line, nil
}
