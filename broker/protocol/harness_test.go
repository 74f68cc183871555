package protocol_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// world is a minimal deterministic driver: one core, sessions by ConnID,
// virtual time. It does what broker/server and sim do, without sockets.
type world struct {
	t        *testing.T
	core     *broker.Core
	sessions map[broker.ConnID]protocol.Session
	now      time.Time
	cfg      protocol.Config
	next     broker.ConnID
}

var epoch = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, cfg broker.Config) *world {
	t.Helper()
	return &world{
		t:        t,
		core:     broker.New(cfg),
		sessions: make(map[broker.ConnID]protocol.Session),
		now:      epoch,
		cfg: protocol.Config{
			Heartbeat:        time.Second,
			HandshakeTimeout: 5 * time.Second,
			TextAckTimeout:   30 * time.Second,
			TextPacingGap:    20 * time.Millisecond,
		},
	}
}

func (w *world) text() (broker.ConnID, *protocol.Text) {
	w.next++
	s := protocol.NewText(w.core, w.next, w.cfg, w.now)
	w.sessions[w.next] = s
	return w.next, s
}

func (w *world) native() (broker.ConnID, *protocol.Native) {
	w.next++
	s := protocol.NewNative(w.core, w.next, w.cfg, w.now)
	w.sessions[w.next] = s
	return w.next, s
}

// settle routes the core's effects to their sessions.
func (w *world) settle() {
	for {
		effects := append([]broker.Effect(nil), w.core.Drain()...)
		if len(effects) == 0 {
			return
		}
		for _, e := range effects {
			s, ok := w.sessions[e.Conn]
			if !ok {
				w.t.Fatalf("effect %v for unknown connection %d", e.Kind, e.Conn)
			}
			s.HandleEffect(e, w.now)
		}
	}
}

// feed gives s all of in and requires it to consume everything.
func (w *world) feed(s protocol.Session, in []byte) {
	w.t.Helper()
	n, err := s.Feed(in, w.now)
	w.settle()
	if err != nil {
		w.t.Fatalf("Feed: %v", err)
	}
	if n != len(in) {
		w.t.Fatalf("Feed consumed %d of %d bytes", n, len(in))
	}
}

// take returns and acknowledges as written everything s has to write.
func (w *world) take(s protocol.Session) []byte {
	out := append([]byte(nil), s.Output()...)
	s.Wrote(len(out), w.now)
	w.settle()
	return out
}

// advance moves virtual time and runs every due timer of core and sessions.
func (w *world) advance(d time.Duration) {
	w.now = w.now.Add(d)
	w.core.Tick(w.now)
	w.settle()
	for _, s := range w.sessions {
		if dl, ok := s.NextDeadline(); ok && !w.now.Before(dl) {
			s.Tick(w.now)
		}
	}
	w.settle()
}

// closeConn detaches a session as a driver does when the transport dies.
func (w *world) closeConn(id broker.ConnID) {
	w.sessions[id].Close(w.now)
	delete(w.sessions, id)
	w.settle()
}

// envelope is a seed-format JSON envelope with dummy base64 values.
func envelope(id string) string {
	return fmt.Sprintf(`{"message_id": "%s", "enc_session_key": "a2V5", "nonce": "bm9uY2U=", "tag": "dGFn", "ciphertext": "Y3Q="}`, id)
}

// lines splits output into lines, requiring a final newline.
func lines(t *testing.T, out []byte) []string {
	t.Helper()
	s := string(out)
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("output %q does not end in a newline", s)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// frames decodes every frame in out.
func frames(t *testing.T, out []byte) []wire.Frame {
	t.Helper()
	var fs []wire.Frame
	for len(out) > 0 {
		typ, payload, n, err := wire.SplitFrame(out, 0)
		if err != nil || n == 0 {
			t.Fatalf("server output is not whole frames: n=%d err=%v", n, err)
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			t.Fatalf("decoding server %s frame: %v", typ, err)
		}
		fs = append(fs, f)
		out = out[n:]
	}
	return fs
}
