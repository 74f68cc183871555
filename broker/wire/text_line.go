package wire

import (
	"bytes"
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

// SplitLine cuts one text line off the front of buf: the line without its
// "\n" (and without a "\r" before it), and n, the bytes it occupies. An
// incomplete line gives n == 0 and a nil error. A line whose content is
// longer than max bytes (<= 0 means DefaultMaxLineSize) gives a
// *LineTooLongError, at the latest once max+2 bytes without "\n" are there,
// so a peer cannot make the caller buffer more than that.
func SplitLine(buf []byte, max int) (line []byte, n int, err error) {
	if max <= 0 {
		max = DefaultMaxLineSize
	}
	// Content of max bytes may be followed by "\r\n": look no further.
	window := buf
	if len(window) > max+2 {
		window = window[:max+2]
	}
	i := bytes.IndexByte(window, '\n')
	if i < 0 {
		if len(buf) >= max+2 {
			return nil, 0, &LineTooLongError{Max: max}
		}
		return nil, 0, nil
	}
	line = trimCR(buf[:i:i])
	if len(line) > max {
		return nil, 0, &LineTooLongError{Max: max}
	}
	return line, i + 1, nil
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// lineReaderInitial is the first buffer size; it grows (up to the line
// limit) only when a longer line arrives, so a connection that sends short
// commands never holds a buffer of the full limit.
const lineReaderInitial = 4 << 10

// LineReader frames the text protocol over a stream: lines end in "\n", an
// optional "\r" before it is dropped. It is not safe for concurrent use.
type LineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	max        int
	eof        bool
	err        error // sticky
}

// NewLineReader returns a LineReader over r for lines of at most maxLine
// bytes, terminator excluded (<= 0 means DefaultMaxLineSize).
func NewLineReader(r io.Reader, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineSize
	}
	return &LineReader{r: r, buf: make([]byte, min(lineReaderInitial, maxLine+2)), max: maxLine}
}

// Buffered reports bytes read from the stream but not yet returned as lines.
func (l *LineReader) Buffered() int { return l.end - l.start }

// ReadLine returns the next line without its terminator, valid until the next
// call. A last line without "\n" before the end of the stream is returned
// too (the reference broker needs no newline), then io.EOF. A line over the
// limit returns *LineTooLongError, and so does every later call. Other read
// errors are returned as they come and the call may be retried: nothing
// read so far is lost.
func (l *LineReader) ReadLine() ([]byte, error) {
	if l.err != nil {
		return nil, l.err
	}
	for {
		line, n, err := SplitLine(l.buf[l.start:l.end], l.max)
		if err != nil {
			l.err = err
			return nil, err
		}
		if n > 0 {
			l.start += n
			return line, nil
		}
		if l.eof {
			if l.start == l.end {
				l.err = io.EOF
				return nil, io.EOF
			}
			line = trimCR(l.buf[l.start:l.end])
			l.start = l.end
			if len(line) > l.max {
				l.err = &LineTooLongError{Max: l.max}
				return nil, l.err
			}
			return line, nil
		}
		if err := l.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, first making room by moving the unread bytes to
// the front and, when the buffer is full of one partial line, growing it.
func (l *LineReader) fill() error {
	if l.start > 0 {
		l.end = copy(l.buf, l.buf[l.start:l.end])
		l.start = 0
	}
	if l.end == len(l.buf) {
		// SplitLine has not refused the line yet, so it is shorter than
		// max+2 bytes and the new buffer can hold it.
		grown := make([]byte, min(2*len(l.buf), l.max+2))
		copy(grown, l.buf[:l.end])
		l.buf = grown
	}
	// Like bufio, give up on a reader that keeps returning nothing.
	for range 100 {
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if errors.Is(err, io.EOF) {
			l.eof = true
			return nil
		}
		if n > 0 || err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
