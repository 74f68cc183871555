package protocol_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
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
	feedInChunksThen(t, w, s, in, chunk, nil)
}

// feedInChunksThen is feedInChunks calling after (if not nil) once each
// piece is fed and settled, as a driver serves a session between reads.
func feedInChunksThen(t *testing.T, w *world, s interface {
	Feed([]byte, time.Time) (int, error)
	Closed() (bool, string)
}, in []byte, chunk int, after func()) {
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
		if after != nil {
			after()
		}
		closed, _ := s.Closed()
		if err != nil && !closed {
			t.Fatalf("Feed failed (%v) but the session is open", err)
		}
		if closed {
			return
		}
	}
}

// FuzzNativeHandshakeWithUsers feeds arbitrary bytes to a fresh native
// session of a broker with users, from a peer the fuzzer describes (TLS,
// loopback, a client certificate naming a user), playing the driver's part
// in PLAIN with access.VerifyPassword. Whatever arrives (Hello with or
// without the auth bit, Auth frames, anything before or after them), the
// session must not panic, must write only whole frames, and must never
// answer HelloOK or open the connection on the core without credentials:
// a password the check accepted, or a verified certificate of a user.
func FuzzNativeHandshakeWithUsers(f *testing.F) {
	ext := func(resp, vhost string) *wire.Auth {
		return &wire.Auth{Mechanism: "EXTERNAL", Vhost: vhost, Response: []byte(resp)}
	}
	for _, in := range [][]byte{
		helloAuth(plain("alice", "correct horse", "")),
		helloAuth(plain("alice", "wrong", "/")),
		helloAuth(plain("mallory", "correct horse", "")),
		helloAuth(plain("alice", "correct horse", "tenant-b")),
		helloAuth(ext("", "")),
		helloAuth(ext("svc", "/")),
		append(helloAuth(plain("alice", "correct horse", "")), publishFrame(1, "a")...),
		wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: "anon"}),
		wire.AppendAuth(wire.AppendPreamble(nil), plain("alice", "correct horse", "")),
	} {
		for _, peer := range []uint8{0, 1, 3, 5, 7} {
			f.Add(in, peer, uint8(7))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, peerBits uint8, chunk uint8) {
		w := newWorld(t, broker.Config{})
		withUsers(t, w,
			authUser{name: "alice", password: "correct horse", perms: map[string]access.Permissions{"/": all}},
			authUser{name: "svc", perms: map[string]access.Permissions{"/": all}},
		)
		peer := protocol.Peer{TLS: peerBits&1 != 0, Loopback: peerBits&2 != 0}
		if peer.TLS && peerBits&4 != 0 {
			peer.CertIdentity = "svc"
		}
		_, s := w.nativeFrom(peer)
		credentials := peer.CertIdentity != ""
		var out []byte
		feedInChunksThen(t, w, s, in, int(chunk)%16+1, func() {
			if c, ok := s.TakePasswordCheck(); ok {
				phc := c.PHC
				if phc == "" {
					phc = access.DummyPHC()
				}
				good, err := access.VerifyPassword(phc, c.Password)
				good = good && err == nil && c.PHC != ""
				credentials = credentials || good
				s.PasswordChecked(good, w.now)
				w.settle()
			}
			out = append(out, w.take(s)...)
		})
		// A preamble of another version is answered with ours
		// (protocol.md §1), then the connection closes.
		out = bytes.TrimPrefix(out, wire.AppendPreamble(nil))
		for _, fr := range frames(t, out) {
			if fr.FrameType() == wire.FrameHelloOK && !credentials {
				t.Fatalf("HelloOK without credentials (peer %+v): %#v", peer, frames(t, out))
			}
		}
		if w.core.Stats().Connections != 0 && !credentials {
			t.Fatalf("the core opened a connection without credentials (peer %+v)", peer)
		}
	})
}
