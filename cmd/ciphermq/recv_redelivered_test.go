package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// TestRecvRecordsTheRedeliveredFlag: a message that another consumer took
// without acking reaches recv flagged by the broker, and its record keeps
// the flag; a message delivered for the first time has none.
func TestRecvRecordsTheRedeliveredFlag(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	send := func(prefix, msg string) {
		t.Helper()
		if out, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"),
			"--sign-key", filepath.Join(keys, "sender.key"), "--id-prefix", prefix, msg); err != nil {
			t.Fatalf("send: %v\n%s", err, out)
		}
	}
	send("taken", "first")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "never-acks", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var calls atomic.Int32
	other, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "default_queue", Handler: func(context.Context, *clients.Delivery) error {
		calls.Add(1)
		return errors.New("not now")
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the other consumer to get the message", func() bool { return calls.Load() > 0 })
	if err := other.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// Cancel does not wait for the broker to drop the consumer; until it
	// has, the next message could still be pushed to it.
	waitUntil(t, "the broker to drop the other consumer", func() bool {
		for _, q := range srv.Stats().Queues {
			if q.Name == "default_queue" {
				return q.Consumers == 0 && q.Unacked == 0
			}
		}
		return false
	})
	send("fresh", "second")

	out := filepath.Join(t.TempDir(), "received.jsonl")
	r := startRecv(t, "--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"), "--out", out)
	r.started(t)
	waitUntil(t, "2 records", func() bool { return len(recordsIn(out)) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	for _, rec := range recordsIn(out) {
		flags[rec.MessageID] = rec.Redelivered
	}
	if len(flags) != 2 || !flags["taken-1"] || flags["fresh-1"] {
		t.Fatalf("redelivered flags %v, want taken-1 true and fresh-1 false", flags)
	}
}
