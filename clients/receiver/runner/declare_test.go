package runner

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

func startDurableBroker(t testing.TB) (*server.Server, string) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	return testbroker.Start(t, cfg)
}

// isDurable says whether queue exists durable with dlq as its dead-letter
// queue: a redeclaration with other options is refused as a mismatch.
func isDurable(t *testing.T, c *clients.Conn, queue, dlq string) bool {
	t.Helper()
	err := c.DeclareQueue(context.Background(), queue, clients.QueueOptions{Durable: true, DeadLetterQueue: dlq})
	if err != nil && !clients.IsMismatch(err) {
		t.Fatalf("redeclare %s: %v", queue, err)
	}
	return err == nil
}

// routed publishes one message with key through exchange and reports
// whether it reached queue.
func routed(t *testing.T, srv *server.Server, c *clients.Conn, exchange, key, queue string) bool {
	t.Helper()
	ctx := context.Background()
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: exchange, RoutingKey: key})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pub.Publish(ctx, "probe-"+queue, []byte("x"))
	if err == nil {
		err = f.Wait(ctx)
	}
	if err != nil {
		return false
	}
	for _, q := range srv.Stats().Queues {
		if q.Name == queue {
			return q.Ready == 1
		}
	}
	return false
}

func TestDeclareQueueDurableRequiredOnADurableBroker(t *testing.T) {
	srv, addr := startDurableBroker(t)
	c := dial(t, addr, "recv")
	var warn bytes.Buffer
	dlq, err := DeclareQueue(context.Background(), &warn, c, "orders", "default_exchange", "orders-key", DurableRequired, false)
	if err != nil {
		t.Fatal(err)
	}
	if dlq != "orders.dlq" || warn.Len() != 0 {
		t.Fatalf("dlq %q, warnings %q", dlq, warn.String())
	}
	if !isDurable(t, c, "orders", "orders.dlq") {
		t.Fatal("orders is not durable with orders.dlq as its dead-letter queue")
	}
	if !routed(t, srv, c, "default_exchange", "orders-key", "orders") {
		t.Fatal("orders is not bound with orders-key")
	}
}

func TestDeclareQueueFallsBackToMemoryWithAWarning(t *testing.T) {
	srv, addr := startBroker(t) // no data directory
	c := dial(t, addr, "recv")
	var warn bytes.Buffer
	dlq, err := DeclareQueue(context.Background(), &warn, c, "orders", "default_exchange", "k", DurableIfPossible, false)
	if err != nil {
		t.Fatal(err)
	}
	if dlq != "orders.dlq" || !strings.Contains(warn.String(), "keeps no data directory") || !strings.Contains(warn.String(), "orders.dlq") {
		t.Fatalf("dlq %q, warnings %q", dlq, warn.String())
	}
	if isDurable(t, c, "orders", "orders.dlq") {
		t.Fatal("orders declared durable on a broker without a data directory")
	}
	if !routed(t, srv, c, "default_exchange", "k", "orders") {
		t.Fatal("orders is not bound")
	}
}

func TestDeclareQueueDurableRequiredFailsWithoutADataDirectory(t *testing.T) {
	_, addr := startBroker(t)
	_, err := DeclareQueue(context.Background(), new(bytes.Buffer), dial(t, addr, "recv"), "orders", "default_exchange", "k", DurableRequired, false)
	if err == nil || !strings.Contains(err.Error(), `declare durable queue "orders"`) || !strings.Contains(err.Error(), "--in-memory") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeclareQueueExistingWithOtherOptions(t *testing.T) {
	_, addr := startDurableBroker(t)
	c := dial(t, addr, "recv")
	ctx := context.Background()
	// An operator's queue: durable, no dead-letter queue.
	if err := c.DeclareQueue(ctx, "orders", clients.QueueOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	// Refused by default: recv cannot tell where its rejections would go.
	_, err := DeclareQueue(ctx, new(bytes.Buffer), c, "orders", "default_exchange", "k", DurableIfPossible, false)
	if err == nil || !strings.Contains(err.Error(), "--queue-as-is") {
		t.Fatalf("a queue with other options without asIs: err = %v", err)
	}
	// Consumed as it is, with a warning, when asked (--queue-as-is).
	var warn bytes.Buffer
	dlq, err := DeclareQueue(ctx, &warn, c, "orders", "default_exchange", "k", DurableIfPossible, true)
	if err != nil {
		t.Fatal(err)
	}
	if dlq != "" || !strings.Contains(warn.String(), "warning: queue orders already exists with options recv did not set") {
		t.Fatalf("dlq %q (want none: rejections go where the queue says), warnings %q", dlq, warn.String())
	}
	// --durable refuses to consume a queue it cannot vouch for.
	_, err = DeclareQueue(ctx, new(bytes.Buffer), c, "orders", "default_exchange", "k", DurableRequired, true)
	if err == nil || !strings.Contains(err.Error(), `--durable: queue "orders" or "orders.dlq" already exists with other options`) {
		t.Fatalf("DurableRequired on a mismatching queue: err = %v", err)
	}
}

func TestDeclareQueueInMemoryOnADurableBroker(t *testing.T) {
	_, addr := startDurableBroker(t)
	c := dial(t, addr, "recv")
	dlq, err := DeclareQueue(context.Background(), new(bytes.Buffer), c, "scratch", "default_exchange", "k", InMemory, false)
	if err != nil || dlq != "scratch.dlq" {
		t.Fatalf("dlq %q, err %v", dlq, err)
	}
	if isDurable(t, c, "scratch", "scratch.dlq") {
		t.Fatal("InMemory declared a durable queue")
	}
}

func TestDeclareQueueBindToAMissingExchange(t *testing.T) {
	_, addr := startBroker(t)
	_, err := DeclareQueue(context.Background(), new(bytes.Buffer), dial(t, addr, "recv"), "orders", "no-such-exchange", "k", InMemory, false)
	if err == nil || !strings.Contains(err.Error(), `bind queue "orders" to exchange "no-such-exchange"`) {
		t.Fatalf("err = %v", err)
	}
}
