package runner

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
)

// TestRunStoresTheBrokersRedeliveredFlag: a message another consumer took
// and did not ack comes back flagged, and the record says so; a fresh one
// does not.
func TestRunStoresTheBrokersRedeliveredFlag(t *testing.T) {
	srv, addr := startBroker(t)
	k := newKeys(t, 22)
	s := sealer(t, k, k.Signer)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := dial(t, addr, "sender").NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id, msg string) {
		t.Helper()
		d := seal(t, s, id, msg)
		f, err := pub.Publish(ctx, id, d.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	publish("taken-before", "x")

	// A consumer that never acks: the broker delivers the message to it and
	// gets it back.
	var calls atomic.Int32
	other, err := dial(t, addr, "other").Consume(ctx, clients.ConsumerOptions{
		Queue: "default_queue",
		Handler: func(context.Context, *clients.Delivery) error {
			calls.Add(1)
			return errors.New("not now")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other consumer to get the message", 30*time.Second, func() bool { return calls.Load() > 0 })
	if err := other.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// Cancel does not wait for the broker to drop the consumer: until it
	// has, "fresh" could still be pushed to it and come back flagged.
	waitFor(t, "the broker to drop the other consumer", 30*time.Second, func() bool {
		for _, q := range srv.Stats().Queues {
			if q.Name == "default_queue" {
				return q.Consumers == 0 && q.Unacked == 0
			}
		}
		return false
	})
	publish("fresh", "y")

	path := filepath.Join(t.TempDir(), "out.jsonl")
	st := openStore(t, path, inbox.Options{})
	r, _ := receiver.New(st, opener(t, k))
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, r, dial(t, addr, "receiver"), Options{Queue: "default_queue", Logger: slog.New(slog.DiscardHandler)})
	}()
	waitFor(t, "both messages stored", 30*time.Second, func() bool { return r.Stats().Stored == 2 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, rec := range readAll(t, path) {
		got[rec.MessageID] = rec.Redelivered
	}
	if len(got) != 2 || !got["taken-before"] || got["fresh"] {
		t.Fatalf("redelivered flags %v, want taken-before true and fresh false", got)
	}
}
