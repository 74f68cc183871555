package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two clients that behave exactly as the reference Python clients of
// commit 9bc8b23 (seed protocol §6), including the habits that make them
// fragile: every recv(1024) is taken as exactly one line. They let the tests
// prove that the broker's pacing keeps those clients from losing messages.

// refSend is Sender.py: per attempt a new TCP connection, one write of the
// publish line, ONE read of up to 1024 bytes, success iff the stripped chunk
// starts with "ACK <id>"; at most 3 attempts.
func refSend(addr, id string) error {
	var last string
	for attempt := 0; attempt < 3; attempt++ {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			last = err.Error()
			continue
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = nc.Write([]byte("publish default_exchange default_key " + envelope(id) + "\n"))
		buf := make([]byte, 1024)
		n, rerr := nc.Read(buf)
		nc.Close()
		if err != nil || rerr != nil {
			last = fmt.Sprint(err, rerr)
			continue
		}
		reply := strings.TrimSpace(string(buf[:n]))
		if strings.HasPrefix(reply, "ACK "+id) {
			return nil
		}
		last = "unexpected server response: " + reply
	}
	return fmt.Errorf("failed to send %s after 3 attempts: %s", id, last)
}

// refReceiver is Receiver.py: consume, one read discarded as the
// subscription reply, then each read(1024) is one line that must start with
// "Message:"; split(" ", 2); JSON parse of the rest; in-memory dedup by the
// prefix id; "ack <id>" and one read that must start with "ACK_CONFIRMED
// <id>" (else that chunk is discarded and the ack re-sent, at most 3 times).
type refReceiver struct {
	mu        sync.Mutex
	processed []string        // ids in processing order, duplicates excluded
	seen      map[string]bool // the in-memory dedup set
	dups      int             // duplicate deliveries (acked again)
	lost      []string        // chunks that failed to parse: lost messages
	unknown   []string        // chunks that are not "Message:" lines
	unexpAck  []string        // chunks read instead of ACK_CONFIRMED (discarded)
}

func newRefReceiver() *refReceiver { return &refReceiver{seen: make(map[string]bool)} }

// run connects once and processes pushes until stop is closed or the
// connection ends. If noAck is set it reads one push without acking and
// returns (a receiver that crashes mid-delivery).
func (r *refReceiver) run(addr string, stop <-chan struct{}, noAck bool) (string, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if stop != nil {
		// Receiver.py notices SIGINT within its 1 s read timeout; closing
		// the socket ends the test's receiver at once instead.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-stop:
				nc.Close()
			case <-done:
			}
		}()
	}
	// stop may close the socket at any moment, here too: an error after it
	// is the test's own shutdown (stoppedOr), never a receiver failure.
	if _, err := nc.Write([]byte("consume default_queue\n")); err != nil {
		return "", stoppedOr(stop, err)
	}
	buf := make([]byte, 1024)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(buf); err != nil { // the subscription reply, discarded
		return "", stoppedOr(stop, err)
	}
	for {
		select {
		case <-stop:
			return "", nil
		default:
		}
		nc.SetReadDeadline(time.Now().Add(time.Second))
		n, err := nc.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			return "", stoppedOr(stop, err)
		}
		id, ok := r.parsePush(string(buf[:n]))
		if !ok {
			continue
		}
		if noAck {
			return id, nil
		}
		r.record(func() {
			if r.seen[id] {
				r.dups++
			} else {
				r.seen[id] = true
				r.processed = append(r.processed, id)
			}
		})
		for attempt := 0; attempt < 3; attempt++ {
			// stop closes the socket, and it may do so during this round
			// trip: the broker has counted the ack (what the tests wait
			// for) before the receiver has read ACK_CONFIRMED. That close
			// is the test's own shutdown, not a receiver failure.
			if _, err := nc.Write([]byte("ack " + id + "\n")); err != nil {
				return "", stoppedOr(stop, err)
			}
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := nc.Read(buf)
			if err != nil {
				return "", stoppedOr(stop, err)
			}
			if r.ackConfirmed(string(buf[:n]), id) {
				break
			}

		}
	}
}

// stoppedOr returns nil if stop is closed (the error is the test's own
// close of the socket), else err.
func stoppedOr(stop <-chan struct{}, err error) error {
	select {
	case <-stop:
		return nil
	default:
		return err
	}
}

// parsePush handles one chunk read as one push line, as Receiver.py does.
func (r *refReceiver) parsePush(raw string) (string, bool) {
	chunk := strings.TrimSpace(raw)
	if !strings.HasPrefix(chunk, "Message:") {
		r.record(func() { r.unknown = append(r.unknown, chunk) })
		return "", false
	}
	parts := strings.SplitN(chunk, " ", 3)
	var env map[string]any
	if len(parts) < 3 || json.Unmarshal([]byte(parts[2]), &env) != nil {
		// Trailing data (a second line in the chunk) fails the JSON parse:
		// Receiver.py drops the message without acking.
		r.record(func() { r.lost = append(r.lost, chunk) })
		return "", false
	}
	return parts[1], true
}

// ackConfirmed handles the chunk read after "ack <id>", as Receiver.py does.
func (r *refReceiver) ackConfirmed(raw, id string) bool {
	reply := strings.TrimSpace(raw)
	if !strings.HasPrefix(reply, "ACK_CONFIRMED "+id) {
		r.record(func() { r.unexpAck = append(r.unexpAck, reply) })
		return false
	}
	if reply != "ACK_CONFIRMED "+id {
		// startswith matched, but a push rode along and is swallowed.
		r.record(func() { r.lost = append(r.lost, reply) })
	}
	return true
}

// explainOnFailure logs the receiver's problems if the test fails (for
// example by timing out while waiting for messages it lost).
func (r *refReceiver) explainOnFailure(t *testing.T, want []string) {
	if t.Failed() {
		for _, p := range r.problems(want, false) {
			t.Log(p)
		}
	}
}

func (r *refReceiver) record(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

func (r *refReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.processed)
}

// check fails the test on every problem reported by problems.
func (r *refReceiver) check(t *testing.T, want []string) {
	t.Helper()
	for _, p := range r.problems(want, false) {
		t.Error(p)
	}
}

// checkRecovered is check for a live run, where a push may ride along with
// the previous reply in one read after all: the pacing gap is measured from
// the broker's write, and a receiver not scheduled for longer than the gap
// (a loaded machine, -race) reads both at once. Receiver.py then drops the
// push without acking it, and the broker pushes it again after the text
// ack timeout. Such a chunk is no loss when every message in it was
// processed later; it is logged.
func (r *refReceiver) checkRecovered(t *testing.T, want []string) {
	t.Helper()
	for _, p := range r.problems(want, true) {
		t.Error(p)
	}
}

// pushedIDs returns the message ids of the pushes in a chunk.
var pushedIDs = regexp.MustCompile(`Message: (\S+) `)

// problems lists lost, unknown or discarded chunks and any difference
// between the processed set and want. With recovered, a lost chunk whose
// every push was processed later is not a problem.
func (r *refReceiver) problems(want []string, recovered bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	lost := r.lost
	if recovered {
		processed := map[string]bool{}
		for _, id := range r.processed {
			processed[id] = true
		}
		lost = nil
		for _, chunk := range r.lost {
			ms := pushedIDs.FindAllStringSubmatch(chunk, -1)
			ok := len(ms) > 0
			for _, m := range ms {
				ok = ok && processed[m[1]]
			}
			if !ok {
				lost = append(lost, chunk)
			}
		}
	}
	if len(lost)+len(r.unknown)+len(r.unexpAck) > 0 {
		out = append(out, fmt.Sprintf("reference receiver lost data: lost=%q unknown=%q discarded=%q", lost, r.unknown, r.unexpAck))
	}
	got := map[string]bool{}
	for _, id := range r.processed {
		got[id] = true
	}
	for _, id := range want {
		if !got[id] {
			out = append(out, "message "+id+" never processed")
		}
	}
	if len(r.processed) != len(want) {
		out = append(out, fmt.Sprintf("processed %d messages, want %d", len(r.processed), len(want)))
	}
	return out
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// refConfig is testConfig for the reference receiver's runs: a push read
// together with the previous reply is dropped unacked, as Receiver.py does
// (see checkRecovered), and comes back after this ack timeout (2 s: well
// above an ack's round trip, well below the tests' wait).
func refConfig() Config {
	cfg := testConfig()
	cfg.TextAckTimeout = 2 * time.Second
	return cfg
}

// logRecovered logs the pushes the receiver dropped and got again.
func (r *refReceiver) logRecovered(t *testing.T) {
	if len(r.lost) > 0 {
		t.Logf("%d push(es) read together with a reply and pushed again after the ack timeout: %q", len(r.lost), r.lost)
	}
}

func TestReferenceClientsBacklogBeforeSubscribe(t *testing.T) {
	srv, addr := startServer(t, refConfig())
	want := ids("backlog", 25)
	for _, id := range want {
		if err := refSend(addr, id); err != nil {
			t.Fatal(err)
		}
	}
	r := newRefReceiver()
	defer r.explainOnFailure(t, want)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { _, err := r.run(addr, stop, false); done <- err }()
	eventually(t, "the backlog to be processed", func() bool { return r.count() >= len(want) })
	eventually(t, "the last ack to land", func() bool { return queueOf(srv, "default_queue").Acked >= uint64(len(want)) })
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("receiver: %v", err)
	}
	r.logRecovered(t)
	r.checkRecovered(t, want)
	if r.dups != 0 {
		t.Errorf("%d duplicate deliveries without any fault", r.dups)
	}
}

func TestReferenceClientsWhileRunning(t *testing.T) {
	srv, addr := startServer(t, refConfig())
	r := newRefReceiver()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { _, err := r.run(addr, stop, false); done <- err }()
	eventually(t, "the receiver to subscribe", func() bool { return queueOf(srv, "default_queue").Consumers == 1 })
	want := ids("live", 20)
	defer r.explainOnFailure(t, want)
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for _, id := range want {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- refSend(addr, id) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all messages processed", func() bool { return r.count() >= len(want) })
	eventually(t, "the last ack to land", func() bool { return queueOf(srv, "default_queue").Acked >= uint64(len(want)) })
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("receiver: %v", err)
	}
	r.logRecovered(t)
	r.checkRecovered(t, want)
}

// TestCheckRecoveredFailsOnAPushNeverProcessed: checkRecovered excuses a
// dropped push only when its message was processed later.
func TestCheckRecoveredFailsOnAPushNeverProcessed(t *testing.T) {
	r := newRefReceiver()
	if _, ok := r.parsePush("Message: a " + envelope("a") + "\nMessage: b " + envelope("b") + "\n"); ok {
		t.Fatal("two pushes in one chunk parsed as one")
	}
	r.processed = []string{"a"}
	if got := r.problems([]string{"a", "b"}, true); len(got) == 0 || !strings.Contains(got[0], "lost data") {
		t.Fatalf("b was never processed, problems %q", got)
	}
	r.processed = []string{"a", "b"}
	if got := r.problems([]string{"a", "b"}, true); len(got) != 0 {
		t.Fatalf("both processed later, problems %q", got)
	}
	if got := r.problems([]string{"a", "b"}, false); len(got) == 0 {
		t.Fatal("the strict check excused a dropped push")
	}
}

func TestReferenceReceiverReconnectGetsUnackedMessageAgain(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	if err := refSend(addr, "again"); err != nil {
		t.Fatal(err)
	}
	r := newRefReceiver()
	id, err := r.run(addr, nil, true) // reads the push, "crashes" before acking
	if err != nil || id != "again" {
		t.Fatalf("first run: id=%q err=%v", id, err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { _, err := r.run(addr, stop, false); done <- err }()
	eventually(t, "the redelivery to be processed", func() bool { return r.count() == 1 })
	eventually(t, "the ack to land", func() bool { return queueOf(srv, "default_queue").Acked == 1 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.check(t, []string{"again"})
}

// TestReferenceReceiverDetectsCoalescedLines proves the receiver above can
// fail: two lines in one chunk lose a message, as they do in Receiver.py.
func TestReferenceReceiverDetectsCoalescedLines(t *testing.T) {
	r := newRefReceiver()
	if _, ok := r.parsePush("Message: a " + envelope("a") + "\nMessage: b " + envelope("b") + "\n"); ok {
		t.Fatal("two pushes in one chunk were accepted")
	}
	if !r.ackConfirmed("ACK_CONFIRMED a\nMessage: b "+envelope("b")+"\n", "a") {
		t.Fatal("the ack reply was not recognised")
	}
	if r.ackConfirmed("Message: b "+envelope("b")+"\n", "a") {
		t.Fatal("a push was taken for the ack reply")
	}
	if id, ok := r.parsePush("Message: c " + envelope("c") + "\n"); !ok || id != "c" {
		t.Fatalf("a clean push was refused: %q %v", id, ok)
	}
	if len(r.lost) != 2 || len(r.unexpAck) != 1 || len(r.problems([]string{"c"}, false)) == 0 {
		t.Fatalf("lost=%q discarded=%q; check must report both", r.lost, r.unexpAck)
	}
}
