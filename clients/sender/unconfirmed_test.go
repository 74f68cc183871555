package sender

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/check"
)

// TestRunCountsUnconfirmedWhenTheBrokerIsGone: with the broker shut down
// after the connection was made, no confirm can arrive; after Timeout the
// messages are unconfirmed, the summary's error says so, and the report
// holds their attempts with no outcome (unknown to the checker).
func TestRunCountsUnconfirmedWhenTheBrokerIsGone(t *testing.T) {
	srv, addr := startBroker(t)
	conn := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep, _ := NewReport(&buf, ReportOptions{Publisher: "p"})
	rec := &recorder{}
	sum, err := Run(ctx, conn, Options{
		Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t),
		Timeout: 200 * time.Millisecond, Observer: Observers(rep, rec),
	}, Messages([]string{"a", "b", "c"}))
	// Run says why it stopped waiting; the Summary counts what it means.
	if err == nil || !strings.Contains(err.Error(), "unconfirmed") {
		t.Fatalf("Run: %v, want the publisher's close error", err)
	}
	if sum.Sent != 3 || sum.Unconfirmed != 3 || sum.Confirmed != 0 || sum.Err() == nil || !strings.Contains(sum.Err().Error(), "3 unconfirmed") {
		t.Fatalf("summary %+v (err %v)", sum, sum.Err())
	}
	for _, r := range rec.results {
		if !errors.Is(r.Err, clients.ErrUnconfirmed) {
			t.Fatalf("result %+v, want ErrUnconfirmed", r)
		}
	}
	var h check.History
	for line := range strings.Lines(buf.String()) {
		var e check.Event
		if err := jsonUnmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		h.Add(e)
	}
	if rp := check.Check(h, check.Options{SafetyOnly: true}); rp.Counts.Attempted != 3 || rp.Counts.Unknown != 3 {
		t.Fatalf("checker counts %+v", rp.Counts)
	}
}
