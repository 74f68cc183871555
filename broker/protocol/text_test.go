package protocol_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestTextPublishReplies(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	cases := []struct{ in, want string }{
		{"publish default_exchange default_key " + envelope("m1"), "ACK m1"},
		{"publish default_exchange default_key " + envelope("m1"), "ACK m1"}, // duplicate: idempotent
		{"publish nowhere default_key " + envelope("m2"), "Error: Exchange 'nowhere' not found"},
		{"publish default_exchange other_key " + envelope("m3"), "Error: No binding found for routing key 'other_key'"},
		{"publish default_exchange default_key {not json", "Invalid message format: not valid JSON"},
		{"publish default_exchange", "Missing parameters"},
		{"declare_queue", "Missing queue name"},
		{"frobnicate", "Unknown command"},
		{"", "Unknown command"},
		{"ack nobody-knows-this-id", "ACK_CONFIRMED nobody-knows-this-id"},
		{"reset_stats", "Error: reset_stats is not supported: statistics are cumulative since server start"},
	}
	for _, c := range cases {
		w.feed(s, []byte(c.in+"\r\n"))
		got := lines(t, w.take(s))
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%q: got %q, want exactly %q", c.in, got, c.want)
		}
	}
	st := w.core.Stats()
	for _, q := range st.Queues {
		if q.Name == broker.DefaultQueue && q.Ready != 1 {
			t.Errorf("default_queue holds %d messages after a publish and its duplicate, want 1", q.Ready)
		}
	}
}

func TestTextRepliesKeepCommandOrderAcrossPipelining(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	in := "declare_queue q1\n" +
		"declare_exchange x1\n" +
		"bind x1 q1 k1\n" +
		"publish x1 k1 " + envelope("a") + "\n" +
		"bind q1 x1 k2\n" + // 0bcf2a7 order
		"publish x1 k2 " + envelope("b") + "\n" +
		"fetch q1\nfetch q1\nfetch q1\nstats\n"
	w.feed(s, []byte(in))
	got := lines(t, w.take(s))
	want := []string{"Queue declared", "Exchange declared", "Queue bound", "ACK a", "Queue bound", "ACK b",
		"Message: a " + envelope("a"), "Message: b " + envelope("b"), "No messages"}
	if len(got) != len(want)+1 {
		t.Fatalf("got %d lines %q, want %d + stats", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if !strings.HasPrefix(got[len(want)], `Stats: {"connections":1`) {
		t.Errorf("stats line %q", got[len(want)])
	}
}

func TestTextPublishBatch(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	in := "publish_batch default_exchange default_key [" + envelope("b1") + ", " + envelope("b2") + ", " + envelope("b1") + "]\n"
	w.feed(s, []byte(in))
	got := string(w.take(s))
	if want := "ACK b1\nACK b2\nACK b1\n"; got != want {
		t.Fatalf("publish_batch reply %q, want %q", got, want)
	}
	w.feed(s, []byte("publish_batch nowhere default_key ["+envelope("b3")+"]\n"))
	if got, want := string(w.take(s)), "Error: exchange \"nowhere\" not found for message b3\n"; !strings.HasPrefix(got, "Error: ") || !strings.HasSuffix(got, " for message b3\n") {
		t.Fatalf("batch refusal %q, want the shape of %q", got, want)
	}
}

// TestTextPacing checks the rules that keep the reference Receiver (one
// recv per line) from losing messages: nothing right behind the
// subscription reply, one push per write, one push in flight, a quiet gap.
func TestTextPacing(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, pub := w.text()
	for _, id := range []string{"p1", "p2", "p3"} {
		w.feed(pub, []byte("publish default_exchange default_key "+envelope(id)+"\n"))
	}
	w.take(pub)

	_, s := w.text()
	w.feed(s, []byte("consume default_queue\n"))
	if got := string(s.Output()); got != "Subscribed to queue\n" {
		t.Fatalf("first output %q, want only the subscription reply", got)
	}
	w.take(s)
	if got := s.Output(); len(got) != 0 {
		t.Fatalf("push %q right behind the subscription reply, want a quiet gap", got)
	}
	dl, ok := s.NextDeadline()
	if !ok || dl != w.now.Add(20*time.Millisecond) {
		t.Fatalf("NextDeadline = %v %v, want the end of the quiet gap", dl, ok)
	}
	w.advance(19 * time.Millisecond)
	if len(s.Output()) != 0 {
		t.Fatal("pushed before the quiet gap ended")
	}
	for i, id := range []string{"p1", "p2", "p3"} {
		w.advance(time.Millisecond)
		if i > 0 {
			w.advance(19 * time.Millisecond)
		}
		got := string(w.take(s))
		if want := "Message: " + id + " " + envelope(id) + "\n"; got != want {
			t.Fatalf("push %d: %q, want %q", i, got, want)
		}
		w.advance(time.Second)
		if out := s.Output(); len(out) != 0 {
			t.Fatalf("second push %q while %s is unacked", out, id)
		}
		w.feed(s, []byte("ack "+id+"\n"))
		if got := string(s.Output()); got != "ACK_CONFIRMED "+id+"\n" {
			t.Fatalf("ack reply %q: the next push must not share its write", got)
		}
		w.take(s)
	}
	w.advance(time.Second)
	if out := s.Output(); len(out) != 0 {
		t.Fatalf("unexpected output %q after the backlog", out)
	}
}

func TestTextPushIsWrittenAloneEvenWithRepliesBehindIt(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	w.feed(s, []byte("consume default_queue\n"))
	w.take(s)
	_, pub := w.text()
	w.feed(pub, []byte("publish default_exchange default_key "+envelope("x")+"\n"))
	w.advance(20 * time.Millisecond)
	// A command arrives while the push is still unwritten.
	w.feed(s, []byte("declare_queue other\n"))
	if got := string(s.Output()); got != "Message: x "+envelope("x")+"\n" {
		t.Fatalf("Output %q, want the push alone", got)
	}
	w.take(s)
	if got := string(w.take(s)); got != "Queue declared\n" {
		t.Fatalf("then %q, want the reply", got)
	}
}

func TestTextAckTimeoutRedeliversAndStaleAckIsHarmless(t *testing.T) {
	w := newWorld(t, broker.Config{})
	aID, a := w.text()
	w.feed(a, []byte("consume default_queue\n"))
	w.take(a)
	_, pub := w.text()
	w.feed(pub, []byte("publish default_exchange default_key "+envelope("slow")+"\n"))
	w.advance(20 * time.Millisecond)
	if got := string(w.take(a)); !strings.HasPrefix(got, "Message: slow ") {
		t.Fatalf("first push %q", got)
	}
	// A second consumer is waiting; a's ack timeout (30 s) passes.
	_, b := w.text()
	w.feed(b, []byte("consume default_queue\n"))
	w.take(b)
	w.advance(30 * time.Second)
	w.advance(20 * time.Millisecond)
	gotA, gotB := string(w.take(a)), string(w.take(b))
	if !strings.HasPrefix(gotA+gotB, "Message: slow ") {
		t.Fatalf("after the ack timeout: a=%q b=%q, want a redelivery", gotA, gotB)
	}
	redeliveredTo := b
	if gotA != "" {
		redeliveredTo = a
	}
	if redeliveredTo == b {
		// The stale ack on a is answered as the reference does but settles
		// nothing: the redelivery on b is still outstanding.
		w.feed(a, []byte("ack slow\n"))
		if got := string(w.take(a)); got != "ACK_CONFIRMED slow\n" {
			t.Fatalf("stale ack reply %q", got)
		}
		if unacked := queueStats(w, broker.DefaultQueue).Unacked; unacked != 1 {
			t.Fatalf("after a stale ack: %d unacked, want 1 (refused)", unacked)
		}
	}
	w.feed(redeliveredTo, []byte("ack slow\n"))
	w.take(redeliveredTo)
	if q := queueStats(w, broker.DefaultQueue); q.Unacked != 0 || q.Ready != 0 {
		t.Fatalf("after the ack: ready=%d unacked=%d, want empty", q.Ready, q.Unacked)
	}
	_ = aID
}

func TestTextDisconnectRequeuesToAnotherConsumer(t *testing.T) {
	w := newWorld(t, broker.Config{})
	aID, a := w.text()
	w.feed(a, []byte("consume default_queue\n"))
	w.take(a)
	_, pub := w.text()
	w.feed(pub, []byte("publish default_exchange default_key "+envelope("m")+"\n"))
	w.advance(20 * time.Millisecond)
	if got := string(w.take(a)); !strings.HasPrefix(got, "Message: m ") {
		t.Fatalf("push %q", got)
	}
	_, b := w.text()
	w.feed(b, []byte("consume default_queue\n"))
	w.take(b)
	w.closeConn(aID)
	w.advance(20 * time.Millisecond)
	if got := string(w.take(b)); !strings.HasPrefix(got, "Message: m ") {
		t.Fatalf("after a disconnected: b got %q, want the redelivery", got)
	}
}

func TestTextLineTooLongClosesOnlyThatSession(t *testing.T) {
	w := newWorld(t, broker.Config{})
	w.cfg.MaxLineSize = 1024
	_, bad := w.text()
	_, good := w.text()
	n, err := bad.Feed([]byte(strings.Repeat("x", 2000)), w.now)
	if err == nil || n != 2000 {
		t.Fatalf("Feed of an overlong line: n=%d err=%v, want an error", n, err)
	}
	if closed, _ := bad.Closed(); !closed {
		t.Fatal("session not closed after an overlong line")
	}
	if got := string(bad.Output()); !strings.HasPrefix(got, "Error: ") {
		t.Fatalf("reply %q, want an Error line", got)
	}
	w.feed(good, []byte("declare_queue fine\n"))
	if got := string(w.take(good)); got != "Queue declared\n" {
		t.Fatalf("other session: %q", got)
	}
}

func TestTextBinaryInputCloses(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	if _, err := s.Feed([]byte("ack \x00\xff\n"), w.now); err == nil {
		t.Fatal("binary line accepted")
	}
	if closed, _ := s.Closed(); !closed {
		t.Fatal("not closed")
	}
}

func TestTextConsumeUnknownQueueAnswersLikeTheReference(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	w.feed(s, []byte("consume no_such_queue\nfetch no_such_queue\nbind nope nada k\n"))
	if got := string(w.take(s)); got != "Subscribed to queue\nNo messages\nQueue bound\n" {
		t.Fatalf("got %q", got)
	}
}

func TestTextPartialLinesWait(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	line := []byte("declare_queue q\n")
	n, err := s.Feed(line[:5], w.now)
	if n != 0 || err != nil || len(s.Output()) != 0 {
		t.Fatalf("partial line: n=%d err=%v out=%q", n, err, s.Output())
	}
	w.feed(s, line)
	if got := string(w.take(s)); got != "Queue declared\n" {
		t.Fatalf("got %q", got)
	}
}

func queueStats(w *world, name string) broker.QueueStats {
	for _, q := range w.core.Stats().Queues {
		if q.Name == name {
			return q
		}
	}
	w.t.Fatalf("no queue %q", name)
	return broker.QueueStats{}
}

func TestTextEndOfInputRunsTheLastLineWithoutNewline(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	in := []byte("declare_queue a\npublish default_exchange default_key " + envelope("last"))
	n, err := s.Feed(in, w.now)
	w.settle()
	if err != nil {
		t.Fatal(err)
	}
	s.EndOfInput(in[n:], w.now)
	w.settle()
	if got := string(s.Output()); got != "Queue declared\nACK last\n" {
		t.Fatalf("got %q", got)
	}
	if closed, _ := s.Closed(); !closed {
		t.Fatal("not closed after end of input")
	}
}

func TestTextPushSanitisesMultiLineBodies(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, n := openNative(t, w)
	w.feed(n, wire.AppendPublish(nil, &wire.Publish{Seq: 1, Exchange: []byte(broker.DefaultExchange),
		RoutingKey: []byte(broker.DefaultRoutingKey), MessageID: []byte("bin"), Body: []byte("a\nb\rc")}))
	_, s := w.text()
	w.feed(s, []byte("consume default_queue\n"))
	w.take(s)
	w.advance(20 * time.Millisecond)
	if got := string(w.take(s)); got != "Message: bin a b c\n" {
		t.Fatalf("push %q, want one line", got)
	}
}

func TestTextDeclareExchangeTypes(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	w.feed(s, []byte("declare_exchange events fanout\ndeclare_exchange events\ndeclare_exchange events fanout\ndeclare_exchange events topic\ndeclare_exchange events bogus\n"))
	got := lines(t, w.take(s))
	if len(got) != 5 || got[0] != "Exchange declared" || got[1] != "Exchange declared" || got[2] != "Exchange declared" {
		t.Fatalf("got %q", got)
	}
	if !strings.HasPrefix(got[3], "Error: ") || !strings.HasPrefix(got[4], "Error: unknown exchange type") {
		t.Fatalf("redeclaration with another type / bad type: %q", got[3:])
	}
}

// A line of exactly the limit whose "\r" has arrived but whose "\n" has not
// is not too long yet: the next read completes it.
func TestTextLineAtTheLimitWaitsForItsNewline(t *testing.T) {
	w := newWorld(t, broker.Config{})
	w.cfg.MaxLineSize = 64
	_, s := w.text()
	name := strings.Repeat("q", 64-len("declare_queue "))
	line := []byte("declare_queue " + name + "\r\n")
	n, err := s.Feed(line[:len(line)-1], w.now)
	if err != nil || n != 0 {
		t.Fatalf("line at the limit without its newline: n=%d err=%v, want it to wait", n, err)
	}
	if closed, why := s.Closed(); closed {
		t.Fatalf("closed: %s", why)
	}
	w.feed(s, line)
	if got := string(w.take(s)); got != "Queue declared\n" {
		t.Fatalf("got %q", got)
	}
	n, err = s.Feed([]byte(strings.Repeat("x", 66)), w.now)
	if err == nil {
		t.Fatalf("limit+2 bytes without a newline accepted (n=%d)", n)
	}
}
