package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/check"
)

func createFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// fakeClock advances one second per reading.
func fakeClock() func() time.Time {
	t := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestReportWritesCheckEvents(t *testing.T) {
	var buf bytes.Buffer
	now := fakeClock()
	rep, err := NewReport(&buf, ReportOptions{Publisher: "p", Queues: []string{"q1", "q2"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rep.Attempt(Attempt{Index: 1, ID: "p-1", Plaintext: []byte("hello")}))
	must(rep.Resolved(Result{Index: 1, ID: "p-1"}))
	must(rep.Resolved(Result{Index: 2, ID: "p-2", Duplicate: true}))
	must(rep.Resolved(Result{Index: 3, ID: "p-3", Err: &clients.BrokerError{Op: "publish", Code: 300, Reason: "no route"}}))
	must(rep.Resolved(Result{Index: 4, ID: "p-4", Err: clients.ErrUnconfirmed}))
	must(rep.Resolved(Result{Index: 5, ID: "p-5", Err: fmt.Errorf("wrapped: %w", &clients.BrokerError{Op: "publish", Code: 301, Reason: "queue full", Sends: 2})}))

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 4 lines (nothing for the unconfirmed message), got %d:\n%s", len(lines), buf.String())
	}
	var got []check.Event
	for _, l := range lines {
		var e check.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, e)
	}
	want := []check.Event{
		check.Attempt(time.Second, "p", "p-1", 1, check.DigestOf([]byte("hello")), "q1", "q2"),
		check.Confirmed(2*time.Second, "p", "p-1"),
		check.ConfirmedDuplicate(3*time.Second, "p", "p-2"),
		check.Refused(4*time.Second, "p", "p-3", 300, "no route"),
		check.Indeterminate(5*time.Second, "p", "p-5", 301, "queue full"),
	}
	if !strings.Contains(lines[4], `"outcome":"indeterminate"`) {
		t.Errorf("a refusal after a resend is written as %s, want the checker's indeterminate outcome", lines[4])
	}
	for i := range want {
		gb, _ := json.Marshal(got[i])
		wb, _ := json.Marshal(want[i])
		if !bytes.Equal(gb, wb) {
			t.Errorf("event %d:\n got %s\nwant %s", i, gb, wb)
		}
	}
}

type flushCounter struct {
	bytes.Buffer
	flushes int
}

func (f *flushCounter) Flush() error { f.flushes++; return nil }

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReportFlushesEveryEventAndReportsWriteErrors(t *testing.T) {
	fc := &flushCounter{}
	rep, _ := NewReport(fc, ReportOptions{Publisher: "p"})
	_ = rep.Attempt(Attempt{Index: 1, ID: "a"})
	_ = rep.Resolved(Result{Index: 1, ID: "a"})
	if fc.flushes != 2 {
		t.Fatalf("%d flushes for 2 events", fc.flushes)
	}
	bw := bufio.NewWriterSize(&bytes.Buffer{}, 4096)
	rep, _ = NewReport(bw, ReportOptions{Publisher: "p"})
	_ = rep.Attempt(Attempt{Index: 1, ID: "a"})
	if bw.Buffered() != 0 {
		t.Fatalf("a *bufio.Writer still buffers %d bytes after the attempt", bw.Buffered())
	}
	rep, _ = NewReport(failingWriter{}, ReportOptions{Publisher: "p"})
	if err := rep.Attempt(Attempt{Index: 1, ID: "a"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("write error: %v", err)
	}
	if _, err := NewReport(&bytes.Buffer{}, ReportOptions{}); !errors.Is(err, ErrNoPublisher) {
		t.Fatalf("no publisher: %v", err)
	}
}

func TestObserversCallsEachInOrderAndStopsAtAnError(t *testing.T) {
	a, b := &recorder{}, &recorder{failAt: 2}
	o := Observers(a, nil, b)
	if err := o.Attempt(Attempt{Index: 1}); err != nil {
		t.Fatal(err)
	}
	if err := o.Attempt(Attempt{Index: 2}); !errors.Is(err, errStop) {
		t.Fatalf("err = %v", err)
	}
	a.failAt = 3
	if err := o.Attempt(Attempt{Index: 3}); !errors.Is(err, errStop) || len(b.attempts) != 1 {
		t.Fatalf("the first error must stop the call: err %v, b saw %d", err, len(b.attempts))
	}
	if err := o.Resolved(Result{Index: 1}); err != nil || len(a.results) != 1 || len(b.results) != 1 {
		t.Fatalf("Resolved: %v, %d, %d", err, len(a.results), len(b.results))
	}
}

// killAt is an Observer that kills its own process (SIGKILL on Unix) at
// the attempt of one index, after the observers before it ran.
type killAt uint64

func (k killAt) Attempt(a Attempt) error {
	if a.Index == uint64(k) {
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		select {} // the kill is asynchronous: never return to publish
	}
	return nil
}

func (killAt) Resolved(Result) error { return nil }

const killChildEnv = "CIPHERMQ_SENDER_KILL_CHILD"

// TestReportSurvivesAKilledSender kills a sender process between writing an
// attempt and publishing it: the report must hold that attempt, with no
// outcome, so the checker counts it unknown; and the broker never got it.
func TestReportSurvivesAKilledSender(t *testing.T) {
	if env := os.Getenv(killChildEnv); env != "" {
		addr, path, _ := strings.Cut(env, ",")
		runKilledChild(t, addr, path)
		return
	}
	srv, addr := startBroker(t)
	path := filepath.Join(t.TempDir(), "report.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReportSurvivesAKilledSender$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+addr+","+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Success() {
		t.Fatalf("the child should have been killed: %v\n%s", err, out)
	}
	h := readReport(t, path)
	attempts, outcomes := map[string]bool{}, map[string]bool{}
	for _, e := range h.Events {
		switch e.Kind {
		case check.KindPublish:
			attempts[e.MessageID] = true
		case check.KindOutcome:
			outcomes[e.MessageID] = true
		}
	}
	if len(attempts) != 6 || !attempts["k-6"] || outcomes["k-6"] {
		t.Fatalf("report: attempts %v, outcomes %v; want k-1..k-6 attempted and k-6 unresolved", attempts, outcomes)
	}
	rp := check.Check(h, check.Options{SafetyOnly: true})
	if rp.Counts.Unknown < 1 || rp.Counts.Attempted != 6 || len(rp.Malformed) != 0 || len(rp.Lost) != 0 {
		t.Fatalf("check: counts %+v, malformed %v, lost %v", rp.Counts, rp.Malformed, rp.Lost)
	}
	if got := queueHolds(srv, "default_queue"); got > 5 {
		t.Fatalf("broker holds %d messages: the killed attempt was published", got)
	}
}

func runKilledChild(t *testing.T, addr, path string) {
	f := createFile(t, path)
	rep, err := NewReport(f, ReportOptions{Publisher: "k"})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := Sequential("k")
	_, err = Run(context.Background(), dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t), IDs: ids,
		Observer: Observers(rep, killAt(6)),
	}, Generated(GenerateOptions{Count: 100, Size: 16}))
	t.Fatalf("the sender was meant to die at message 6, Run returned %v", err)
}

func TestSummaryCountsIndeterminateRefusalsApart(t *testing.T) {
	sum := Summary{Refused: map[string]int{}}
	sum.count(Result{ID: "a", Err: &clients.BrokerError{Code: 301, Reason: "queue full", Sends: 1}})
	sum.count(Result{ID: "b", Err: &clients.BrokerError{Code: 301, Reason: "queue full", Sends: 3}})
	sum.count(Result{ID: "c"})
	if sum.RefusedTotal() != 1 || sum.Indeterminate != 1 || sum.Confirmed != 1 {
		t.Fatalf("summary %+v: want 1 refused, 1 indeterminate, 1 confirmed", sum)
	}
	if err := sum.Err(); err == nil || !strings.Contains(err.Error(), "1 refused after a resend (indeterminate)") {
		t.Fatalf("Err: %v, want it to count the indeterminate refusal", err)
	}
	only := Summary{Refused: map[string]int{}, Indeterminate: 1}
	if only.Err() == nil {
		t.Fatal("a run whose only problem is an indeterminate refusal reports no error")
	}
}
