//go:build unix

package trywrite

import "syscall"

const supported = true

// write is the RawConn callback: write until done, EAGAIN or an error.
func (w *Writer) write(fd uintptr) bool {
	for w.n < len(w.buf) {
		k, err := syscall.Write(int(fd), w.buf[w.n:])
		if k > 0 {
			w.n += k
		}
		switch {
		case err == syscall.EINTR, err == nil && k > 0:
			continue
		case err == syscall.EAGAIN:
		case err == nil:
			w.err = syscall.EIO // nothing written and no error: do not spin on it
		default:
			w.err = err
		}
		break
	}
	return true
}
