package runner

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

// startBroker serves an in-process broker on a free local port.
func startBroker(t testing.TB) (*server.Server, string) {
	t.Helper()
	return testbroker.Start(t, server.DefaultConfig())
}

func dial(t testing.TB, addr, name string) *clients.Conn {
	t.Helper()
	c, err := clients.Dial(context.Background(), addr, clients.Options{ClientName: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a correctness wait
	}
}

func TestRunStoresEveryConfirmedMessageOnce(t *testing.T) {
	_, addr := startBroker(t)
	k := newKeys(t, 7)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	st := openStore(t, path, inbox.Options{})
	r, _ := receiver.New(st, opener(t, k))

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() {
		runDone <- Run(ctx, r, dial(t, addr, "receiver"), Options{Queue: "default_queue", Logger: slog.New(slog.DiscardHandler)})
	}()

	pub, err := dial(t, addr, "sender").NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key", Window: 32})
	if err != nil {
		t.Fatal(err)
	}
	s := sealer(t, k, k.Signer)
	const n = 300
	var confirms []*clients.Confirm
	for i := range n {
		d := seal(t, s, fmt.Sprintf("m-%d", i), fmt.Sprintf("payload %d", i))
		f, err := pub.Publish(ctx, d.MessageID, d.Body)
		if err != nil {
			t.Fatal(err)
		}
		confirms = append(confirms, f)
	}
	// One forged message: rejected, counted, never stored.
	f, err := pub.Publish(ctx, "forged", []byte("not an envelope"))
	if err != nil {
		t.Fatal(err)
	}
	confirms = append(confirms, f)
	for _, f := range confirms {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm %s: %v", f.ID(), err)
		}
	}
	waitFor(t, "all messages stored", 30*time.Second, func() bool {
		st := r.Stats()
		return st.Stored == n && st.RejectedTotal() == 1
	})
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := r.Stats().Rejected["unknown-format"]; got != 1 {
		t.Errorf("rejected by reason = %v", r.Stats().Rejected)
	}
	recs := readAll(t, path)
	if len(recs) != n {
		t.Fatalf("file holds %d records, want %d", len(recs), n)
	}
	seen := map[string]bool{}
	for _, rec := range recs {
		if seen[rec.MessageID] {
			t.Fatalf("%s stored twice", rec.MessageID)
		}
		seen[rec.MessageID] = true
		var i int
		if _, err := fmt.Sscanf(rec.MessageID, "m-%d", &i); err != nil || string(rec.Message) != fmt.Sprintf("payload %d", i) {
			t.Fatalf("record %s holds %q", rec.MessageID, rec.Message)
		}
	}
}

func TestRunRefusesNoQueue(t *testing.T) {
	r, _ := receiver.New(openStore(t, filepath.Join(t.TempDir(), "o"), inbox.Options{}), opener(t, newKeys(t, 8)))
	if err := Run(context.Background(), r, nil, Options{}); err == nil {
		t.Fatal("Run without a queue succeeded")
	}
}

func TestRunRejectsForgeriesToTheDeadLetterQueue(t *testing.T) {
	srv, addr := startBroker(t)
	k := newKeys(t, 11)
	stranger := newKeys(t, 12)
	admin := dial(t, addr, "admin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := admin.DeclareQueue(ctx, "dead", clients.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeclareQueue(ctx, "inbox", clients.QueueOptions{DeadLetterQueue: "dead"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Bind(ctx, "default_exchange", "inbox", "inbox"); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(t.TempDir(), "out.jsonl"), inbox.Options{})
	r, _ := receiver.New(st, opener(t, k))
	runDone := make(chan error, 1)
	go func() {
		runDone <- Run(ctx, r, dial(t, addr, "receiver"), Options{Queue: "inbox", Logger: slog.New(slog.DiscardHandler)})
	}()
	pub, err := admin.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "inbox"})
	if err != nil {
		t.Fatal(err)
	}
	good := seal(t, sealer(t, k, k.Signer), "good", "fine")
	forged := seal(t, sealer(t, k, stranger.Signer), "forged", "evil")
	for _, d := range []receiver.Delivery{good, forged} {
		f, err := pub.Publish(ctx, d.MessageID, d.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the forgery in the dead-letter queue", 30*time.Second, func() bool {
		for _, q := range srv.Stats().Queues {
			if q.Name == "dead" && q.Ready == 1 {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	s := r.Stats()
	if s.Stored != 1 || s.Rejected["untrusted-sender"] != 1 || st.Has("forged") {
		t.Fatalf("stats %+v; forged stored: %v", s, st.Has("forged"))
	}
}

func TestRunCountsDuplicatesTheLibraryAcks(t *testing.T) {
	_, addr := startBroker(t)
	k := newKeys(t, 13)
	st := openStore(t, filepath.Join(t.TempDir(), "out.jsonl"), inbox.Options{})
	// "old" was stored by an earlier run; the broker delivers it again.
	if err := st.Append(inbox.Record{MessageID: "old", Message: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	r, _ := receiver.New(st, opener(t, k))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() {
		runDone <- Run(ctx, r, dial(t, addr, "receiver"), Options{Queue: "default_queue", Logger: slog.New(slog.DiscardHandler)})
	}()
	pub, err := dial(t, addr, "sender").NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	if err != nil {
		t.Fatal(err)
	}
	d := seal(t, sealer(t, k, k.Signer), "old", "x")
	f, err := pub.Publish(ctx, d.MessageID, d.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the duplicate to be counted", 30*time.Second, func() bool { return r.Stats().Duplicates == 1 })
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Received != 1 || s.Stored != 0 || st.Len() != 1 {
		t.Fatalf("stats %+v, store holds %d", s, st.Len())
	}
}

func TestRunStoppedBeforeItStartsIsNotAnError(t *testing.T) {
	_, addr := startBroker(t)
	r, _ := receiver.New(openStore(t, filepath.Join(t.TempDir(), "o"), inbox.Options{}), opener(t, newKeys(t, 14)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, r, dial(t, addr, "receiver"), Options{Queue: "default_queue"}); err != nil {
		t.Fatalf("Run with a cancelled context: %v, want nil (stopped by its caller)", err)
	}
}
