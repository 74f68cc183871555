package protocol_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
)

// feedPartial drives s the way broker/server does: it feeds pending plus
// the new bytes and keeps what s leaves unconsumed.
func feedPartial(t *testing.T, w *world, s protocol.Session, pending, more []byte) []byte {
	t.Helper()
	pending = append(pending, more...)
	n, err := s.Feed(pending, w.now)
	w.settle()
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	if n == 0 {
		return pending
	}
	return append(pending[:0], pending[n:]...)
}

// A 4 MiB line that arrives 1 byte or 1 KiB per read is searched for its
// newline once: total work is O(total bytes), not O(bytes²/read size).
func TestTextNewlineSearchIsIncremental(t *testing.T) {
	const size = 4 << 20
	for _, chunk := range []int{1, 1 << 10} {
		t.Run(fmt.Sprintf("%dB reads", chunk), func(t *testing.T) {
			if chunk == 1 && testing.Short() {
				t.Skip("-short: 4 Mi one-byte feeds take seconds under -race; the 1 KiB variant still runs, and .ci/run runs both without -short")
			}
			w := newWorld(t, broker.Config{MaxMessageSize: size})
			w.cfg.MaxLineSize = size + 64
			_, s := w.text()
			line := []byte("publish default_exchange default_key " + envelope("big"))
			line = append(line[:len(line)-1], `, "pad": "`...)
			line = append(line, bytes.Repeat([]byte("x"), size-len(line)-3)...)
			line = append(line, "\"}\n"...)
			var pending []byte
			for off := 0; off < len(line); off += chunk {
				pending = feedPartial(t, w, s, pending, line[off:min(off+chunk, len(line))])
			}
			if len(pending) != 0 {
				t.Fatalf("%d bytes left unconsumed", len(pending))
			}
			if got := lines(t, w.take(s)); len(got) != 1 || got[0] != "ACK big" {
				t.Fatalf("reply %q, want ACK big", got)
			}
			if got := s.ScannedBytes(); got != uint64(len(line)) {
				t.Fatalf("searched %d bytes for newlines, want exactly the %d bytes of the line", got, len(line))
			}
		})
	}
}

// Lines split anywhere across feeds, several per feed, still parse in
// order: the remembered search position never skips a newline.
func TestTextSplitFeedsKeepEveryLine(t *testing.T) {
	in := []byte("declare_queue a\ndeclare_queue b\r\nstats\nfrobnicate\ndeclare_exchange x\n")
	for chunk := 1; chunk <= len(in); chunk++ {
		w := newWorld(t, broker.Config{})
		_, s := w.text()
		var pending []byte
		for off := 0; off < len(in); off += chunk {
			pending = feedPartial(t, w, s, pending, in[off:min(off+chunk, len(in))])
		}
		got := lines(t, w.take(s))
		if len(got) != 5 || got[0] != "Queue declared" || got[1] != "Queue declared" || !strings.HasPrefix(got[2], "Stats: ") ||
			got[3] != "Unknown command" || got[4] != "Exchange declared" {
			t.Fatalf("chunk %d: replies %q", chunk, got)
		}
		if s.ScannedBytes() != uint64(len(in)) {
			t.Fatalf("chunk %d: searched %d bytes, want %d", chunk, s.ScannedBytes(), len(in))
		}
	}
}

func timeoutWorld(t *testing.T) *world {
	w := newWorld(t, broker.Config{})
	w.cfg.TextIdleTimeout = 5 * time.Minute
	w.cfg.TextLineTimeout = 30 * time.Second
	return w
}

// An unterminated line must complete within the line timeout from its
// first byte, however the bytes trickle in.
func TestTextLineTimeoutClosesAnUnfinishedLine(t *testing.T) {
	w := timeoutWorld(t)
	_, s := w.text()
	pending := feedPartial(t, w, s, nil, []byte("d"))
	for range 29 {
		w.advance(time.Second)
		pending = feedPartial(t, w, s, pending, []byte("e")) // progress does not extend the deadline
	}
	if closed, _ := s.Closed(); closed {
		t.Fatal("closed before the line timeout")
	}
	if d, ok := s.NextDeadline(); !ok || !d.Equal(epoch.Add(30*time.Second)) {
		t.Fatalf("next deadline %v %v, want the line deadline %v", d, ok, epoch.Add(30*time.Second))
	}
	w.advance(time.Second)
	closed, why := s.Closed()
	if !closed || !strings.Contains(why, "line timeout") {
		t.Fatalf("closed %v (%q) after the line timeout, want closed for the line timeout", closed, why)
	}
	got := lines(t, w.take(s))
	if len(got) != 1 || got[0] != "Error: an unterminated line did not complete within the line timeout (30s); closing the connection" {
		t.Fatalf("output %q", got)
	}
	_ = pending
}

// A completed line clears the line deadline; the next partial line gets a
// fresh one.
func TestTextLineTimeoutRestartsWithEachLine(t *testing.T) {
	w := timeoutWorld(t)
	_, s := w.text()
	pending := feedPartial(t, w, s, nil, []byte("sta"))
	w.advance(20 * time.Second)
	pending = feedPartial(t, w, s, pending, []byte("ts\ndecl"))
	if len(pending) != 4 {
		t.Fatalf("pending %q", pending)
	}
	w.advance(29 * time.Second)
	if closed, why := s.Closed(); closed {
		t.Fatalf("closed (%s) 29s into the second line", why)
	}
	w.advance(time.Second)
	if closed, _ := s.Closed(); !closed {
		t.Fatal("open 30s into the second line")
	}
}

// A connection that does nothing is closed after the idle timeout; each
// complete line restarts the clock.
func TestTextIdleTimeoutClosesAConnectionDoingNothing(t *testing.T) {
	w := timeoutWorld(t)
	_, s := w.text()
	w.advance(4 * time.Minute)
	w.feed(s, []byte("stats\n"))
	w.take(s)
	w.advance(4*time.Minute + 59*time.Second)
	if closed, why := s.Closed(); closed {
		t.Fatalf("closed (%s) before the idle timeout", why)
	}
	w.advance(time.Second)
	closed, why := s.Closed()
	if !closed || !strings.Contains(why, "idle timeout") {
		t.Fatalf("closed %v (%q), want closed for the idle timeout", closed, why)
	}
	got := lines(t, w.take(s))
	if len(got) != 1 || !strings.HasPrefix(got[0], "Error: no command within the idle timeout (5m0s)") {
		t.Fatalf("output %q", got)
	}
}

// A consumer connection sends nothing between messages (the reference
// Receiver): it is not idle, however long it waits. When its consumer is
// gone (the queue was deleted), the idle clock applies again.
func TestTextIdleTimeoutSparesConsumers(t *testing.T) {
	w := timeoutWorld(t)
	_, s := w.text()
	w.feed(s, []byte("consume default_queue\n"))
	if got := lines(t, w.take(s)); len(got) != 1 || got[0] != "Subscribed to queue" {
		t.Fatalf("consume: %q", got)
	}
	if _, ok := s.NextDeadline(); ok {
		t.Fatal("a consumer connection has a deadline while nothing is in flight")
	}
	w.advance(time.Hour)
	if closed, why := s.Closed(); closed {
		t.Fatalf("consumer closed after an hour of quiet: %s", why)
	}
	// A consume of a missing queue registers nothing: not a consumer.
	_, s2 := w.text()
	w.feed(s2, []byte("consume no_such_queue\n"))
	w.take(s2)
	w.advance(5 * time.Minute)
	if closed, _ := s2.Closed(); !closed {
		t.Fatal("a connection whose consume registered nothing was spared the idle timeout")
	}
	// The server cancels the consumer: idle again.
	if _, err := w.core.DeleteQueue(broker.DefaultQueue, w.now); err != nil {
		t.Fatalf("delete queue: %v", err)
	}
	w.settle()
	if d, ok := s.NextDeadline(); !ok || d.After(w.now) {
		t.Fatalf("deadline %v %v after the consumer was cancelled, want due now (idle since the consume)", d, ok)
	}
	w.advance(0)
	if closed, _ := s.Closed(); !closed {
		t.Fatal("open after its consumer was cancelled and it stayed idle for an hour")
	}
}

// Negative timeouts disable both.
func TestTextTimeoutsDisabled(t *testing.T) {
	w := newWorld(t, broker.Config{})
	w.cfg.TextIdleTimeout = -1
	w.cfg.TextLineTimeout = -1
	_, s := w.text()
	feedPartial(t, w, s, nil, []byte("stat"))
	if d, ok := s.NextDeadline(); ok {
		t.Fatalf("deadline %v with both timeouts disabled", d)
	}
	w.advance(24 * time.Hour)
	if closed, why := s.Closed(); closed {
		t.Fatalf("closed: %s", why)
	}
}
