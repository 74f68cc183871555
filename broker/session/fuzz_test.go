package session_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// FuzzNativeSession feeds arbitrary bytes after a valid handshake. Whatever
// arrives, the session must not panic, must consume what it parses, must
// write only whole frames, and must be closed whenever Feed reports an error.
func FuzzNativeSession(f *testing.F) {
	for _, c := range wiretest.NativeCases() {
		f.Add(c.Raw, uint8(7))
	}
	f.Add(append(publishFrame(1, "a"), publishFrame(2, "b")...), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		w := newWorld(t, broker.Config{})
		_, s := openNative(t, w)
		feedInChunks(t, w, s, in, int(chunk)+1)
		w.advance(time.Hour) // every timer fires: heartbeats, then death
		frames(t, s.Output())
	})
}

// FuzzTextSession does the same for the text protocol: output is always
// whole lines.
func FuzzTextSession(f *testing.F) {
	for _, c := range wiretest.TextCommandCases() {
		f.Add([]byte(c.Line+"\n"), uint8(5))
	}
	f.Add([]byte("consume default_queue\npublish default_exchange default_key "+wiretest.SeedEnvelope+"\nack "+wiretest.SeedEnvelopeID+"\n"), uint8(11))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		w := newWorld(t, broker.Config{})
		w.cfg.MaxLineSize = 4096
		_, s := w.text()
		feedInChunks(t, w, s, in, int(chunk)+1)
		w.advance(time.Minute)
		if out := s.Output(); len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("output %q is not whole lines", out)
		}
	})
}

// feedInChunks delivers in as a stream cut into pieces of size chunk, as a
// socket would, keeping unconsumed bytes like a driver does.
func feedInChunks(t *testing.T, w *world, s interface {
	Feed([]byte, time.Time) (int, error)
	Closed() (bool, string)
}, in []byte, chunk int) {
	var buf []byte
	for len(in) > 0 {
		k := min(chunk, len(in))
		buf = append(buf, in[:k]...)
		in = in[k:]
		n, err := s.Feed(buf, w.now)
		w.settle()
		if n < 0 || n > len(buf) {
			t.Fatalf("Feed consumed %d of %d bytes", n, len(buf))
		}
		buf = buf[n:]
		closed, _ := s.Closed()
		if err != nil && !closed {
			t.Fatalf("Feed failed (%v) but the session is open", err)
		}
		if closed {
			return
		}
	}
}
