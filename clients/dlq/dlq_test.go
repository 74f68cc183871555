package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

func TestInspectReadsMetadataOnly(t *testing.T) {
	d := &clients.Delivery{MessageID: "m-1", Prefix: []byte("not an "), Body: []byte("envelope"), Exchange: "ex", RoutingKey: "rk", DeliveryCount: 3}
	e := Inspect(d)
	if e.ID != "m-1" || e.Size != len("not an envelope") || e.Exchange != "ex" || e.RoutingKey != "rk" || e.Deliveries != 3 ||
		e.Format != envelope.FormatUnknown.String() || e.Sender != "" || e.Reason != clients.RejectReason(0).String() {
		t.Fatalf("Inspect = %+v (want prefix and body counted, and no format: it is no envelope)", e)
	}
}

func TestListingPrintAndErr(t *testing.T) {
	l := Listing{DLQ: "q.dlq", N: 3, Entries: []Entry{
		{ID: "a", Reason: "not-recipient", Size: 10, Format: "cmq1", Sender: "k1", SigValid: true, Recipients: []string{"r1"}, Exchange: "ex", RoutingKey: "rk", Deliveries: 1},
		{ID: "b", Reason: "untrusted-sender", Size: 5, Format: "cmq1", Sender: "k2", Exchange: "ex", RoutingKey: "rk", Deliveries: 2, Problem: "bad header"},
	}}
	var b bytes.Buffer
	if err := l.Print(&b, false); err != nil {
		t.Fatal(err)
	}
	want := "q.dlq: 3 message(s)\n" +
		"  a\tnot-recipient\t10 bytes\tcmq1\tsender k1\trecipients [r1]\tfrom ex/rk\t1 deliveries\n" +
		"  b\tuntrusted-sender\t5 bytes\tcmq1\tsender k2 (signature does not verify)\trecipients []\tfrom ex/rk\t2 deliveries\tbad header\n"
	if b.String() != want {
		t.Fatalf("table:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := l.Print(&b, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var e Entry
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &e) != nil || e.ID != "b" || e.Problem != "bad header" {
		t.Fatalf("JSON lines:\n%s", b.String())
	}
	if err := l.Err(); err == nil || err.Error() != "listed 2 of 3 messages before --timeout" {
		t.Fatalf("Err = %v", err)
	}
	l.N = 2
	if err := l.Err(); err != nil {
		t.Fatalf("complete listing: %v", err)
	}
}

func TestMovedPrintAndErr(t *testing.T) {
	var b bytes.Buffer
	Moved{Queue: "q", DLQ: "q.dlq", N: 5, Moved: 3}.Print(&b)
	if b.String() != "moved 3 of 5 message(s) from q.dlq back to q\n" {
		t.Fatalf("Print: %q", b.String())
	}
	if err := (Moved{N: 5, Moved: 5}).Err(); err != nil {
		t.Fatalf("all moved: %v", err)
	}
	if err := (Moved{N: 5, Moved: 3}).Err(); err == nil || err.Error() != "moved 3 of 5 messages before --timeout" {
		t.Fatalf("short: %v", err)
	}
	err := Moved{DLQ: "q.dlq", N: 5, Moved: 3, Duplicates: 2}.Err()
	var dups *DuplicatesError
	if !errors.As(err, &dups) || dups.Left != 2 || !strings.HasPrefix(err.Error(), "2 message(s) left in q.dlq (2 of them because the broker took their republish for a duplicate") {
		t.Fatalf("duplicates: %v", err)
	}
}

// fill declares queue and its dead-letter queue and publishes n
// non-envelopes straight into the dead-letter queue.
func fill(t *testing.T, c *clients.Conn, queue string, n int) string {
	t.Helper()
	ctx := context.Background()
	dlqName := queue + ".dlq"
	for _, q := range []string{dlqName, queue} {
		if err := c.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: "", RoutingKey: dlqName})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("junk"))
		if err == nil {
			err = f.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dlqName
}

func TestDepthListMove(t *testing.T) {
	srv, addr := testbroker.Start(t, server.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dlqName := fill(t, c, "orders", 4)
	if _, err := Depth(ctx, c, "nope.dlq"); err == nil || !strings.Contains(err.Error(), "queue nope.dlq does not exist") {
		t.Fatalf("Depth of a missing queue: %v", err)
	}
	n, err := Depth(ctx, c, dlqName)
	if err != nil || n != 4 {
		t.Fatalf("Depth = %d, %v", n, err)
	}
	l, err := List(ctx, c, dlqName, n)
	if err != nil || l.Err() != nil || len(l.Entries) != 4 {
		t.Fatalf("List: %+v, %v", l, err)
	}
	if n, _ := Depth(ctx, c, dlqName); n != 4 {
		t.Fatalf("listing took messages away: %d left", n)
	}
	res, err := Move(ctx, c, "orders", dlqName, n)
	if err != nil || res.Err() != nil || res.Moved != 4 {
		t.Fatalf("Move: %+v, %v", res, err)
	}
	ready := map[string]int{}
	for _, q := range srv.Stats().Queues {
		ready[q.Name] = q.Ready + q.Unacked
	}
	if ready["orders"] != 4 || ready[dlqName] != 0 {
		t.Fatalf("after the move: orders %d, %s %d", ready["orders"], dlqName, ready[dlqName])
	}
}

func TestMoveCannotStart(t *testing.T) {
	_, addr := testbroker.Start(t, server.DefaultConfig())
	ctx := context.Background()
	c, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := Move(ctx, c, "no-such-queue", "no-such-queue.dlq", 1)
	if err == nil || res.N != 0 || !strings.Contains(err.Error(), "bind no-such-queue to "+ReplayExchange) {
		t.Fatalf("Move into a missing queue: %+v, %v", res, err)
	}
}
