package sender

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// TestAbortEndsTheConfirmWaitAtOnce: with no confirm ever coming and a
// Timeout of an hour, ending Options.Abort makes Run return, counting the
// unanswered messages as unconfirmed.
func TestAbortEndsTheConfirmWaitAtOnce(t *testing.T) {
	srv, addr := startBroker(t)
	conn := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	abort, stop := context.WithCancel(context.Background())
	rec := &recorder{}
	// Abort once every message is published and waiting for its confirm.
	obs := abortAfter{recorder: rec, n: 3, stop: stop}
	done := make(chan struct{})
	var sum Summary
	go func() {
		defer close(done)
		sum, _ = Run(ctx, conn, Options{
			Exchange: "default_exchange", RoutingKey: "default_key", Sealer: testSealer(t),
			Timeout: time.Hour, Observer: &obs, Abort: abort,
		}, Messages([]string{"a", "b", "c"}))
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Run still waiting for confirms after Abort ended")
	}
	if sum.Sent != 3 || sum.Unconfirmed != 3 {
		t.Fatalf("summary %+v, want 3 sent, 3 unconfirmed", sum)
	}
	for _, r := range rec.results {
		if !errors.Is(r.Err, clients.ErrUnconfirmed) {
			t.Fatalf("result %+v, want ErrUnconfirmed", r)
		}
	}
}

// abortAfter ends the abort context once n attempts were made.
type abortAfter struct {
	*recorder
	n    int
	seen int
	stop context.CancelFunc
}

func (a *abortAfter) Attempt(at Attempt) error {
	a.seen++
	if a.seen == a.n {
		a.stop()
	}
	return a.recorder.Attempt(at)
}
