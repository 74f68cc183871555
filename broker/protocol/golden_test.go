package protocol_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// TestTextGoldenCommandsGetExactlyOneReply runs every line of the shared
// golden table through a text session: refused lines get the golden reply
// byte for byte, every line gets exactly one reply, none closes.
func TestTextGoldenCommandsGetExactlyOneReply(t *testing.T) {
	for _, c := range wiretest.TextCommandCases() {
		t.Run(c.Name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			_, s := w.text()
			if !utf8.ValidString(c.Line) || strings.IndexByte(c.Line, 0) >= 0 {
				// docs/protocol.md §13: binary data on a text connection is
				// answered with an Error line and the connection closes.
				if _, err := s.Feed([]byte(c.Line+"\n"), w.now); err == nil {
					t.Fatal("binary line accepted")
				}
				if got := string(s.Output()); !strings.HasPrefix(got, "Error: binary data on a text connection") {
					t.Fatalf("binary line answered %q", got)
				}
				return
			}
			w.feed(s, []byte(c.Line+"\n"))
			out := string(w.take(s))
			if c.Err != nil && out != c.Reply {
				t.Fatalf("%q answered %q, want %q", c.Line, out, c.Reply)
			}
			if strings.Count(out, "\n") != max(1, len(c.Want.Batch)) {
				t.Fatalf("%q answered %q: want one reply (one line per envelope for a batch)", c.Line, out)
			}
			if closed, _ := s.Closed(); closed {
				t.Fatalf("%q closed the session", c.Line)
			}
		})
	}
}

// TestNativeGoldenFramesAfterHello feeds every frame of the shared golden
// table to an open native session: client frames are served and the
// connection stays open; malformed and server-only frames end it with an
// Error frame (ReqID 0) and nothing else breaks.
func TestNativeGoldenFramesAfterHello(t *testing.T) {
	serverOnly := map[wire.FrameType]bool{
		wire.FrameHelloOK: true, wire.FrameError: true, wire.FrameOK: true, wire.FrameStatsOK: true,
		wire.FrameConfirm: true, wire.FrameNack: true, wire.FrameConfirmDup: true, wire.FrameConsumeOK: true,
		wire.FrameDeliver: true, wire.FrameAckRefused: true, wire.FrameFetchOK: true, wire.FrameFetchEmpty: true,
		wire.FrameCancelled: true, wire.FrameHello: true, // a second Hello is a protocol error too
		wire.FrameDeliverRef: true, wire.FrameBlocked: true, wire.FrameUnblocked: true,
		// openNative's Hello asks for no features: shared-prefix frames
		// are protocol errors there (prefix_test.go covers them granted).
		wire.FramePrefix: true, wire.FramePublishRef: true,
		// Auth belongs right after a Hello with FeatureAuth (auth_test.go).
		wire.FrameAuth: true,
	}
	for _, c := range wiretest.NativeCases() {
		t.Run(c.Name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			if errors.Is(c.Err, wire.ErrFrameTooLarge) {
				// The table's limit is the codec default; ours is larger.
				w.cfg.MaxFrameSize = wire.DefaultMaxFrameSize
			}
			_, s := openNative(t, w)
			_, err := s.Feed(c.Raw, w.now)
			w.settle()
			closed, _ := s.Closed()
			fs := frames(t, s.Output())
			// openNative's Hello asks for no features: a reject reason is a
			// protocol error there (reject_reason_test.go covers it granted).
			fatal := !c.Valid() || serverOnly[c.Frame.FrameType()] || hasRejectReason(c.Frame)
			if c.Valid() && c.Frame.FrameType() == wire.FrameClose {
				if !closed || len(fs) != 1 || fs[0].FrameType() != wire.FrameClose {
					t.Fatalf("Close answered %#v (closed=%v), want a Close back", fs, closed)
				}
				return
			}
			if !fatal {
				if err != nil || closed {
					t.Fatalf("valid client frame closed the session: %v", err)
				}
				return
			}
			if err == nil || !closed || len(fs) == 0 {
				t.Fatalf("bad frame: err=%v closed=%v out=%#v, want an Error and close", err, closed, fs)
			}
			if e, ok := fs[len(fs)-1].(*wire.Error); !ok || e.ReqID != 0 || e.Code == 0 {
				t.Fatalf("last frame %#v, want Error with ReqID 0 and a code", fs[len(fs)-1])
			}
		})
	}
}

// hasRejectReason reports a client frame that carries a reject reason.
func hasRejectReason(f wire.Frame) bool {
	switch f := f.(type) {
	case *wire.Reject:
		return f.Reason != wire.ReasonNone
	case *wire.NackDelivery:
		return f.Reason != wire.ReasonNone
	}
	return false
}
