package realworld

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/check"
)

// TestKill9DefaultBrokerDuringSendLosesNoConfirmedMessage is issue 12's
// test: a broker started with defaults only (no --data-dir: its data goes to
// $XDG_STATE_HOME/ciphermq, here a temporary directory) is killed with
// SIGKILL while `send --count N` runs, then started again with the same
// defaults; send reconnects and finishes. Every message send's report
// records as confirmed must then be in default_queue. N is 20,000 (a few
// seconds); KILL9_COUNT=100000 runs the full count.
func TestKill9DefaultBrokerDuringSendLosesNoConfirmedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the ciphermq binary and SIGKILLs a real broker process; .ci/run runs it without -short")
	}
	n := 20_000
	if v := os.Getenv("KILL9_COUNT"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("KILL9_COUNT=%q: want a positive count", v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	if out, err := exec.CommandContext(ctx, bin, "keygen", "--dir", keys).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	brk := &Broker{Process: newProcess("broker", dir, bin, "server", "--listen", addr, "--log-level", "warn"), Addr: addr}
	brk.Env = []string{"XDG_STATE_HOME=" + state} // the default data directory, isolated
	if err := brk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer brk.Kill(context.Background())

	report := filepath.Join(dir, "report.jsonl")
	send := newProcess("send", dir, bin, "send", "--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"),
		"--sign-key", filepath.Join(keys, "sender.key"), "--count", strconv.Itoa(n), "--size", "100",
		"--report", report, "--timeout", "2m")
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	defer send.Kill(context.Background())

	// Kill the broker once some messages are confirmed and send still runs.
	if err := waitUntil(ctx, "send to confirm 2,000 messages", func() (bool, error) {
		if !send.Running() {
			return false, fmt.Errorf("send ended before the kill (%v): raise the count\n%s", send.ExitErr(), send.LogTail(20))
		}
		return confirmedIn(report) >= 2000, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := brk.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	atKill := confirmedIn(report)
	if !send.Running() {
		t.Fatalf("send ended before the kill landed:\n%s", send.LogTail(20))
	}
	killedAt := time.Now()
	if err := brk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := send.Wait(ctx); err != nil {
		t.Fatalf("send after the restart: %v\n%s", err, send.LogTail(20))
	}
	if _, err := os.Stat(filepath.Join(state, "ciphermq")); err != nil {
		t.Fatalf("the broker did not keep its data in the default directory: %v", err)
	}

	confirmed := confirmedIDs(t, report)
	stored := drainIDs(ctx, t, addr, len(confirmed))
	missing := 0
	for id := range confirmed {
		if !stored[id] {
			missing++
		}
	}
	t.Logf("send ended %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	t.Logf("count %d: %d confirmed at the kill, %d confirmed in all, %d in default_queue after the restart", n, atKill, len(confirmed), len(stored))
	if missing > 0 || len(confirmed) != n {
		t.Fatalf("%d of %d confirmed messages lost by the kill (want 0, and all %d confirmed)", missing, len(confirmed), n)
	}
}

// confirmedIn counts the confirm outcomes written to a send report so far.
func confirmedIn(path string) int {
	return countMatches(path, `"outcome":"confirmed`)
}

// confirmedIDs reads a send report (JSON Lines of check events) and
// returns the ids confirmed.
func confirmedIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	dec := json.NewDecoder(f)
	for {
		var e check.Event
		if err := dec.Decode(&e); err == io.EOF {
			return ids
		} else if err != nil {
			t.Fatalf("report %s: %v", path, err)
		}
		if e.Kind == check.KindOutcome && (e.Outcome == check.OutcomeConfirmed || e.Outcome == check.OutcomeConfirmedDuplicate) {
			ids[e.MessageID] = true
		}
	}
}

// drainIDs consumes default_queue until the broker reports it empty with
// nothing unacked (the handler hands each id over before its ack), and
// returns the ids it delivered. want only sizes the wait's report.
func drainIDs(ctx context.Context, t *testing.T, addr string, want int) map[string]bool {
	t.Helper()
	c, err := clients.Dial(ctx, addr, clients.Options{ClientName: "kill9-check"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan string, 4096)
	cons, err := c.Consume(ctx, clients.ConsumerOptions{Queue: broker.DefaultQueue, Prefetch: 1024, Handler: func(_ context.Context, d *clients.Delivery) error {
		got <- d.MessageID
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Cancel(context.Background())
	ids := map[string]bool{}
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case id := <-got:
			ids[id] = true
			continue
		case <-poll.C:
		case <-ctx.Done():
			t.Fatalf("default_queue gave %d distinct ids (%d confirmed) before the deadline", len(ids), want)
		}
		if queueEmpty(ctx, t, c) {
			for {
				select {
				case id := <-got:
					ids[id] = true
				default:
					return ids
				}
			}
		}
	}
}

// queueEmpty asks the broker whether default_queue holds nothing, ready or
// unacked.
func queueEmpty(ctx context.Context, t *testing.T, c *clients.Conn) bool {
	t.Helper()
	raw, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var st broker.Stats
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, q := range st.Queues {
		if q.Name == broker.DefaultQueue {
			return q.Ready == 0 && q.Unacked == 0
		}
	}
	t.Fatalf("the broker has no %s", broker.DefaultQueue)
	return false
}
