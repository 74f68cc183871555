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

// TestNativeMemoryAlarm: Blocked and Unblocked reach an open session in
// order with its other output; a session that publishes says so; while the
// driver is not reading a publisher its silence is not held against it, and
// its heartbeat clock restarts when the alarm clears.
func TestNativeMemoryAlarm(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	if s.HasPublished() {
		t.Fatal("a fresh session reports that it published")
	}
	w.feed(s, publishFrame(1, "a"))
	if !s.HasPublished() {
		t.Fatal("after a Publish the session does not report that it published")
	}
	s.SetMemoryAlarm(true, "memory alarm", w.now)
	s.SetMemoryAlarm(true, "memory alarm", w.now) // idempotent: one frame
	fs := frames(t, w.take(s))
	if len(fs) != 2 {
		t.Fatalf("got %d frames %#v, want the confirm then Blocked", len(fs), fs)
	}
	if _, ok := fs[0].(*wire.Confirm); !ok {
		t.Fatalf("first frame %#v, want the pending Confirm before Blocked", fs[0])
	}
	if b, ok := fs[1].(*wire.Blocked); !ok || b.Reason != "memory alarm" {
		t.Fatalf("second frame %#v, want Blocked{memory alarm}", fs[1])
	}
	// Ten heartbeat intervals without reading: the session stays open and
	// keeps sending heartbeats.
	for range 10 {
		w.advance(time.Second)
	}
	if closed, why := s.Closed(); closed {
		t.Fatalf("a paused publisher was closed for silence: %s", why)
	}
	s.SetMemoryAlarm(false, "", w.now)
	fs = frames(t, w.take(s))
	if len(fs) == 0 {
		t.Fatal("no output after the alarm cleared")
	}
	if _, ok := fs[len(fs)-1].(*wire.Unblocked); !ok {
		t.Fatalf("last frame %#v, want Unblocked", fs[len(fs)-1])
	}
	// Its silence is judged again from the moment the alarm cleared.
	w.advance(2 * time.Second)
	if closed, _ := s.Closed(); closed {
		t.Fatal("closed before 3 heartbeat intervals of silence after the alarm cleared")
	}
	w.advance(2 * time.Second)
	if closed, _ := s.Closed(); !closed {
		t.Fatal("still open after 4 silent heartbeat intervals once the alarm cleared")
	}
}

// TestNativeBlockedAfterHello: a connection that opens during the alarm
// learns it right after HelloOK.
func TestNativeBlockedAfterHello(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.native()
	s.SetMemoryAlarm(true, "full", w.now)
	if len(s.Output()) != 0 {
		t.Fatal("Blocked sent before the handshake")
	}
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test"})
	w.feed(s, in)
	fs := frames(t, w.take(s))
	if len(fs) != 2 {
		t.Fatalf("got %#v, want HelloOK then Blocked", fs)
	}
	if _, ok := fs[0].(*wire.HelloOK); !ok {
		t.Fatalf("first frame %#v", fs[0])
	}
	if b, ok := fs[1].(*wire.Blocked); !ok || b.Reason != "full" {
		t.Fatalf("second frame %#v, want Blocked{full}", fs[1])
	}
}

// TestTextPublishRefusedDuringMemoryAlarm: each publish during the alarm is
// answered with the alarm's error and nothing is enqueued; afterwards
// publishing works again.
func TestTextPublishRefusedDuringMemoryAlarm(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	var ma protocol.MemoryAlarmed = s
	ma.SetMemoryAlarm(true, "full", w.now)
	w.feed(s, []byte("publish default_exchange default_key "+envelope("m1")+"\n"))
	got := lines(t, w.take(s))
	if len(got) != 1 || !strings.HasPrefix(got[0], "Error: broker memory alarm: publishing is paused") {
		t.Fatalf("publish during the alarm answered %q", got)
	}
	if q, _ := w.core.Queue(broker.DefaultQueue); q.Ready != 0 {
		t.Fatalf("a refused publish was enqueued: %d ready", q.Ready)
	}
	if ma.HasPublished() {
		t.Fatal("a text session asks to be paused; it is refused instead")
	}
	ma.SetMemoryAlarm(false, "", w.now)
	w.feed(s, []byte("publish default_exchange default_key "+envelope("m1")+"\n"))
	if got := lines(t, w.take(s)); len(got) != 1 || got[0] != "ACK m1" {
		t.Fatalf("publish after the alarm answered %q", got)
	}
}

// TestNativePausedPublisherKeepsBeingServed: during the alarm a session
// that published holds its further publishes in order and answers the
// frames behind them (declare, stats, delete); when the alarm clears it
// handles the held publishes.
func TestNativePausedPublisherKeepsBeingServed(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	w.feed(s, publishFrame(1, "a"))
	s.SetMemoryAlarm(true, "full", w.now)
	w.take(s)
	var in []byte
	in = append(in, publishFrame(2, "b")...)
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 7, Name: "side"})
	in = append(in, publishFrame(3, "c")...)
	in = wire.AppendStats(in, &wire.Stats{ReqID: 8})
	in = wire.AppendDeleteQueue(in, &wire.DeleteQueue{ReqID: 9, Name: "side"})
	w.feed(s, in) // fails unless everything is consumed
	if s.ReadPaused() {
		t.Fatal("two small held publishes paused the reading")
	}
	if s.HeldBytes() != len(publishFrame(2, "b"))+len(publishFrame(3, "c")) {
		t.Fatalf("held %d bytes, want the two publish frames", s.HeldBytes())
	}
	var reqs []uint64
	for _, f := range frames(t, w.take(s)) {
		switch f := f.(type) {
		case *wire.OK:
			reqs = append(reqs, f.ReqID)
		case *wire.StatsOK:
			reqs = append(reqs, f.ReqID)
		case *wire.Confirm, *wire.Nack:
			t.Fatalf("a publish was answered during the alarm: %#v", f)
		default:
			t.Fatalf("unexpected frame %#v", f)
		}
	}
	if len(reqs) != 3 || reqs[0] != 7 || reqs[1] != 8 || reqs[2] != 9 {
		t.Fatalf("answered requests %v, want 7, 8, 9 in order", reqs)
	}
	if q, _ := w.core.Queue(broker.DefaultQueue); q.Ready != 1 {
		t.Fatalf("default queue holds %d during the alarm, want only the first message", q.Ready)
	}
	s.SetMemoryAlarm(false, "", w.now)
	w.settle()
	fs := frames(t, w.take(s))
	if _, ok := fs[0].(*wire.Unblocked); !ok {
		t.Fatalf("first frame after the alarm %#v, want Unblocked", fs[0])
	}
	if c, ok := fs[len(fs)-1].(*wire.Confirm); !ok || c.First != 2 || c.Last != 3 {
		t.Fatalf("last frame after the alarm %#v, want Confirm 2..3", fs[len(fs)-1])
	}
	if q, _ := w.core.Queue(broker.DefaultQueue); q.Ready != 3 {
		t.Fatalf("default queue holds %d after the alarm, want 3", q.Ready)
	}
	if s.HeldBytes() != 0 {
		t.Fatalf("still holding %d bytes", s.HeldBytes())
	}
}

// TestNativeHoldIsBounded: publishes beyond HeldPublishLimit are not
// consumed; the session asks the driver to stop reading until the alarm
// clears, then takes them.
func TestNativeHoldIsBounded(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := openNative(t, w)
	w.feed(s, publishFrame(1, "first"))
	s.SetMemoryAlarm(true, "full", w.now)
	w.take(s)
	body := make([]byte, 4096)
	var in []byte
	n := 0
	for seq := uint64(2); len(in) <= 2*protocol.HeldPublishLimit; seq++ {
		in = wire.AppendPublish(in, &wire.Publish{Seq: seq, Exchange: []byte(broker.DefaultExchange),
			RoutingKey: []byte(broker.DefaultRoutingKey), MessageID: []byte(fmt.Sprint("m", seq)), Body: body})
		n++
	}
	consumed, err := s.Feed(in, w.now)
	w.settle()
	if err != nil {
		t.Fatal(err)
	}
	if consumed >= len(in) || consumed > protocol.HeldPublishLimit+len(in)/n {
		t.Fatalf("consumed %d of %d bytes during the alarm, want at most the hold of %d", consumed, len(in), protocol.HeldPublishLimit)
	}
	if !s.ReadPaused() || s.HeldBytes() != consumed {
		t.Fatalf("ReadPaused %v, held %d, consumed %d: want paused with everything consumed held", s.ReadPaused(), s.HeldBytes(), consumed)
	}
	s.SetMemoryAlarm(false, "", w.now)
	w.settle()
	if s.ReadPaused() {
		t.Fatal("still paused after the alarm cleared")
	}
	w.feed(s, in[consumed:])
	if q, _ := w.core.Queue(broker.DefaultQueue); q.Ready != n+1 {
		t.Fatalf("default queue holds %d, want all %d messages", q.Ready, n+1)
	}
}
