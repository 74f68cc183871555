// Package trywrite writes to a socket without ever waiting: as much as the
// kernel's send buffer takes right now, and not a byte more.
//
// The broker and the client library use it to write from the goroutine that
// produced the bytes (a reader that just fed the core, a publisher that just
// queued a frame) instead of waking the connection's writer goroutine: a
// goroutine wake-up costs tens of microseconds on an idle machine, more than
// the write itself. A try-write can never block its caller on a slow peer;
// whatever the kernel does not take is left to the writer goroutine, which
// waits for the socket to become writable as before.
package trywrite

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// Writer try-writes to one socket. It is not safe for concurrent use: its
// user must already own the right to write to the socket (no other write in
// progress), as frames must never interleave.
type Writer struct {
	rc syscall.RawConn
	// The pending write, read by fn; kept here so that fn, made once, does
	// not allocate a closure per write.
	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// New returns a Writer for nc, or nil when nc has no file descriptor to
// write to without waiting (TLS, net.Pipe, wrappers) or the platform is not
// supported: callers then keep writing through their writer goroutine.
func New(nc net.Conn) *Writer {
	sc, ok := nc.(syscall.Conn)
	if !ok || !supported {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &Writer{rc: rc}
	w.fn = w.write
	return w
}

// Write writes a prefix of b, as long as the kernel takes without waiting,
// and returns its length. n < len(b) with a nil error means the socket's
// send buffer is full: write the rest later, in order, before anything
// newer. A non-nil error is the socket's (broken pipe, reset, closed).
//
// A write deadline of the connection that has passed (set by the blocking
// writer for an earlier write) does not fail a try-write: nothing is written
// and the caller's blocking writer, which sets its own deadline, takes over.
func (w *Writer) Write(b []byte) (n int, err error) {
	if len(b) == 0 {
		return 0, nil
	}
	w.buf, w.n, w.err = b, 0, nil
	// RawConn.Write holds the descriptor's write lock and keeps it open
	// during fn; fn returning true means "done", so it never waits for the
	// socket to become writable.
	if cerr := w.rc.Write(w.fn); cerr != nil && w.err == nil && !errors.Is(cerr, os.ErrDeadlineExceeded) {
		w.err = cerr
	}
	n, err = w.n, w.err
	w.buf, w.err = nil, nil
	return n, err
}
