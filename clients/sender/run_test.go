package sender

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/check"
)

func TestRunConfirmsEveryMessageAndObservesInOrder(t *testing.T) {
	srv, addr := startBroker(t)
	ids, _ := Sequential("p")
	rec := &recorder{}
	var progressCalls, lastSent, lastConfirmed int
	sum, err := Run(context.Background(), dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Window: 8, Sealer: testSealer(t),
		IDs: ids, FirstIndex: 10, Observer: rec,
		Progress: func(sent, confirmed int) { progressCalls++; lastSent, lastConfirmed = sent, confirmed },
	}, Generated(GenerateOptions{Count: 50, Size: 32, First: 10}))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 50 || sum.Confirmed != 50 || sum.Duplicates != 0 || sum.RefusedTotal() != 0 || sum.Unconfirmed != 0 || sum.Err() != nil {
		t.Fatalf("summary %+v", sum)
	}
	if got := queueHolds(srv, "default_queue"); got != 50 {
		t.Fatalf("default_queue holds %d, want 50", got)
	}
	if len(rec.attempts) != 50 || len(rec.results) != 50 {
		t.Fatalf("observer saw %d attempts and %d results, want 50 each", len(rec.attempts), len(rec.results))
	}
	for i := range 50 {
		index := uint64(10 + i)
		a, r := rec.attempts[i], rec.results[i]
		if a.Index != index || a.ID != fmt.Sprintf("p-%d", index) || r.Index != index || r.ID != a.ID || r.Err != nil {
			t.Fatalf("message %d: attempt %+v, result %+v", i, a, r)
		}
		if want := string(GenerateMessage(nil, index, 32, nil)); string(a.Plaintext) != want {
			t.Fatalf("attempt %d plaintext %q, want %q", index, a.Plaintext, want)
		}
	}
	if progressCalls < 51 || lastSent != 50 || lastConfirmed != 50 {
		t.Fatalf("progress: %d calls, last %d/%d", progressCalls, lastSent, lastConfirmed)
	}
}

func TestRunAttemptGatesThePublish(t *testing.T) {
	srv, addr := startBroker(t)
	rec := &recorder{failAt: 4}
	sum, err := Run(context.Background(), dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Window: 1, Sealer: testSealer(t), Observer: rec,
	}, Generated(GenerateOptions{Count: 10, Size: 16}))
	if !errors.Is(err, errStop) {
		t.Fatalf("err = %v, want the observer's error", err)
	}
	if sum.Sent != 3 || sum.Confirmed != 3 {
		t.Fatalf("summary %+v: the refused attempt and later ones must not be sent", sum)
	}
	if got := queueHolds(srv, "default_queue"); got != 3 {
		t.Fatalf("broker holds %d, want 3", got)
	}
}

func TestRunCountsRefusalsAndDuplicates(t *testing.T) {
	_, addr := startBroker(t)
	conn := dial(t, addr)
	ids, _ := Sequential("dup")
	o := Options{Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t), IDs: ids}
	if _, err := Run(context.Background(), conn, o, Messages([]string{"a", "b"})); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	o.Observer = rec
	sum, err := Run(context.Background(), conn, o, Messages([]string{"a", "b", "c"}))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Confirmed != 3 || sum.Duplicates != 2 || len(rec.results) != 3 || !rec.results[0].Duplicate || rec.results[2].Duplicate {
		t.Fatalf("resending dup-1, dup-2: summary %+v, results %+v", sum, rec.results)
	}

	o.RoutingKey, o.IDs, o.Observer = "nowhere", nil, rec
	rec.results = nil
	sum, err = Run(context.Background(), conn, o, Messages([]string{"lost?"}))
	if err != nil {
		t.Fatal(err)
	}
	var be *clients.BrokerError
	if sum.RefusedTotal() != 1 || sum.Err() == nil || len(rec.results) != 1 || !errors.As(rec.results[0].Err, &be) || be.Code != 300 {
		t.Fatalf("unroutable: summary %+v, results %+v", sum, rec.results)
	}
	for reason := range sum.Refused {
		if reason != fmt.Sprintf("%s (code 300)", be.Reason) {
			t.Fatalf("refusal counted under %q", reason)
		}
	}
}

func TestRunStopsCleanlyWhenTheContextEnds(t *testing.T) {
	_, addr := startBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{onAttempt: func(a Attempt) {
		if a.Index == 5 {
			cancel()
		}
	}}
	sum, err := Run(ctx, dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t), Observer: rec, Timeout: 10 * time.Second,
	}, Generated(GenerateOptions{Count: 1000, Size: 16}))
	if err != nil {
		t.Fatalf("a cancelled run is not an error: %v", err)
	}
	// Message 5 was attempted with ctx already ended: Publish may still
	// take it (it does not block with room in the window), but nothing
	// after it is sent, and what was sent is confirmed before Run returns.
	if sum.Sent < 4 || sum.Sent > 5 || sum.Confirmed != sum.Sent || len(rec.results) != sum.Sent || len(rec.attempts) != 5 {
		t.Fatalf("summary %+v, %d results", sum, len(rec.results))
	}
}

func TestRunNeedsASealer(t *testing.T) {
	if _, err := Run(context.Background(), nil, Options{}, Messages([]string{"x"})); !errors.Is(err, ErrNoSealer) {
		t.Fatalf("err = %v, want ErrNoSealer", err)
	}
}

func TestRunReportsSourceErrors(t *testing.T) {
	_, addr := startBroker(t)
	boom := errors.New("source broke")
	n := 0
	src := func() ([]byte, bool, error) {
		n++
		if n == 3 {
			return nil, false, boom
		}
		return []byte("m"), true, nil
	}
	sum, err := Run(context.Background(), dial(t, addr), Options{Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t)}, src)
	if !errors.Is(err, boom) || sum.Sent != 2 || sum.Confirmed != 2 {
		t.Fatalf("err %v, summary %+v", err, sum)
	}
}

func TestRunWithReportMakesACheckableHistory(t *testing.T) {
	_, addr := startBroker(t)
	path := filepath.Join(t.TempDir(), "report.jsonl")
	f := createFile(t, path)
	rep, err := NewReport(f, ReportOptions{Publisher: "p1", Queues: []string{"default_queue"}})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := Sequential("p1")
	if _, err := Run(context.Background(), dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t), IDs: ids, Observer: rep,
	}, Messages([]string{"x", "y"})); err != nil {
		t.Fatal(err)
	}
	h := readReport(t, path)
	if len(h.Events) != 4 {
		t.Fatalf("report has %d events, want 2 attempts and 2 outcomes: %+v", len(h.Events), h.Events)
	}
	rp := check.Check(h, check.Options{SafetyOnly: true})
	if c := rp.Counts; c.Attempted != 2 || c.Confirmed != 2 || c.Unknown != 0 || c.Copies != 2 {
		t.Fatalf("counts %+v", c)
	}
	if len(rp.Malformed) != 0 {
		t.Fatalf("malformed: %v", rp.Malformed)
	}
}

func TestRunStopsPublishingWhenResolvedFails(t *testing.T) {
	srv, addr := startBroker(t)
	rec := &recorder{resolveErr: errStop}
	sum, err := Run(context.Background(), dial(t, addr), Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Window: 1, Sealer: testSealer(t), Observer: rec,
	}, Generated(GenerateOptions{Count: 1000, Size: 16}))
	if !errors.Is(err, errStop) {
		t.Fatalf("err = %v, want the observer's error", err)
	}
	// The first outcome stops the loop; messages already published are
	// still collected and observed, none after them is sent.
	if sum.Sent >= 1000 || sum.Confirmed != sum.Sent || len(rec.results) != sum.Sent || queueHolds(srv, "default_queue") != sum.Sent {
		t.Fatalf("summary %+v, %d results, broker holds %d", sum, len(rec.results), queueHolds(srv, "default_queue"))
	}
}
