package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// readerBufferSize is the bufio size a Reader asks for: frames up to this
// size are returned straight from the bufio buffer without a copy.
const readerBufferSize = 64 << 10

// SplitFrame parses one frame from the front of buf. It returns the frame's
// type, its payload (aliasing buf) and n, the number of bytes the frame
// occupies. An incomplete frame gives n == 0 and a nil error: append more
// bytes and call again. max bounds the whole frame (length field included);
// max <= 0 means DefaultMaxFrameSize.
//
// An unknown type is reported with n and payload set, so the caller may skip
// the frame; an oversized or empty frame leaves the stream unparseable.
func SplitFrame(buf []byte, max int) (typ FrameType, payload []byte, n int, err error) {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	if len(buf) < 4 {
		return 0, nil, 0, nil
	}
	l := binary.BigEndian.Uint32(buf)
	if err := checkLength(l, max); err != nil {
		return 0, nil, 0, err
	}
	size := 4 + int(l)
	if len(buf) < size {
		return 0, nil, 0, nil
	}
	typ = FrameType(buf[4])
	payload = buf[5:size:size]
	if !typ.Known() {
		return typ, payload, size, &UnknownFrameTypeError{Type: typ}
	}
	return typ, payload, size, nil
}

func checkLength(l uint32, max int) error {
	if l == 0 {
		return ErrEmptyFrame
	}
	if uint64(l)+4 > uint64(max) {
		return &FrameTooLargeError{Size: uint64(l) + 4, Max: max}
	}
	return nil
}

// Reader reads native frames from a stream. It is not safe for concurrent
// use; one goroutine reads a connection.
type Reader struct {
	br  *bufio.Reader
	max int
	big []byte // frames larger than the bufio buffer are assembled here
	// partial progress of a big frame, so a read error (a deadline) in the
	// middle of one can be retried.
	bigNeed, bigHave int
	err              error // sticky: the stream is out of sync
}

// NewReader returns a Reader over r accepting frames up to maxFrameSize
// bytes (length field included; <= 0 means DefaultMaxFrameSize). If r is a
// *bufio.Reader with a buffer of at least 64 KiB it is used directly, so a
// listener may Peek at the preamble and then hand its reader over.
func NewReader(r io.Reader, maxFrameSize int) *Reader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	return &Reader{br: bufio.NewReaderSize(r, readerBufferSize), max: maxFrameSize}
}

// SetMaxFrameSize changes the frame limit, typically after Hello/HelloOK.
func (r *Reader) SetMaxFrameSize(n int) {
	if n <= 0 {
		n = DefaultMaxFrameSize
	}
	r.max = n
}

// MaxFrameSize reports the current frame limit.
func (r *Reader) MaxFrameSize() int { return r.max }

// Buffered reports how many bytes are already read from the stream but not
// yet returned. A server processes frames while Buffered() > 0 and flushes
// its replies once, when it is about to block.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// FrameBuffered reports whether the next frame is already complete in the
// buffer, so that ReadFrame returns it without reading from the stream. A
// driver that handles frames under a lock uses it to take a whole batch
// under one acquisition without ever blocking on I/O while holding it.
func (r *Reader) FrameBuffered() bool {
	if r.err != nil || r.bigNeed > 0 || r.br.Buffered() < 4 {
		return false
	}
	hdr, err := r.br.Peek(4) // buffered: no read
	if err != nil {
		return false
	}
	l := binary.BigEndian.Uint32(hdr)
	// An invalid length is "buffered" too: ReadFrame reports it at once.
	return checkLength(l, r.max) != nil || 4+int(l) <= r.br.Buffered()
}

// ReadFrame returns the next frame's type and payload. The payload is valid
// until the next call. At a clean end of stream between frames it returns
// io.EOF; inside a frame, ErrTruncated. Oversized and empty frames return
// *FrameTooLargeError / ErrEmptyFrame and every later call returns the same
// error, since the stream cannot be resynchronised. An unknown frame type
// returns the type, the payload and *UnknownFrameTypeError; the stream stays
// usable. Other read errors are returned as is and the call may be retried.
func (r *Reader) ReadFrame() (FrameType, []byte, error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	if r.bigNeed > 0 {
		return r.readBig()
	}
	hdr, err := r.br.Peek(4)
	if err != nil {
		return 0, nil, r.streamErr(err, len(hdr))
	}
	l := binary.BigEndian.Uint32(hdr)
	if err := checkLength(l, r.max); err != nil {
		r.err = err
		return 0, nil, err
	}
	size := 4 + int(l)
	if size > r.br.Size() {
		if cap(r.big) < size {
			r.big = make([]byte, size)
		}
		r.big = r.big[:size]
		r.bigNeed, r.bigHave = size, 0
		return r.readBig()
	}
	frame, err := r.br.Peek(size)
	if err != nil {
		return 0, nil, r.streamErr(err, len(frame))
	}
	// Peek's bytes stay valid after Discard until the next read call.
	if _, err := r.br.Discard(size); err != nil {
		return 0, nil, fmt.Errorf("wire: discard after peek: %w", err)
	}
	return finishFrame(frame)
}

func (r *Reader) readBig() (FrameType, []byte, error) {
	for r.bigHave < r.bigNeed {
		n, err := r.br.Read(r.big[r.bigHave:r.bigNeed])
		r.bigHave += n
		if err != nil && r.bigHave < r.bigNeed {
			return 0, nil, r.streamErr(err, r.bigHave)
		}
	}
	r.bigNeed = 0
	return finishFrame(r.big)
}

func finishFrame(frame []byte) (FrameType, []byte, error) {
	typ := FrameType(frame[4])
	payload := frame[5:len(frame):len(frame)]
	if !typ.Known() {
		return typ, payload, &UnknownFrameTypeError{Type: typ}
	}
	return typ, payload, nil
}

// streamErr classifies a read error: EOF with nothing of the frame read is a
// clean end; EOF inside a frame is truncation (sticky); anything else is
// passed through.
func (r *Reader) streamErr(err error, have int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if have == 0 && r.bigNeed == 0 {
			return io.EOF
		}
		r.err = fmt.Errorf("%w after %d bytes: %w", ErrTruncated, have, io.ErrUnexpectedEOF)
		return r.err
	}
	return err
}
