package clients_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// startExampleBroker runs an in-process broker on a free loopback port.
func startExampleBroker() (addr string, stop func()) {
	srv, err := server.New(server.DefaultConfig(), nil)
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Shutdown(context.Background()) }
}

// Publish with confirms, then consume with acks.
func Example() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()

	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "example", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = conn.DeclareExchange(ctx, "orders", clients.Direct)
	_ = conn.DeclareQueue(ctx, "eu", clients.QueueOptions{})
	_ = conn.Bind(ctx, "orders", "eu", "eu")

	pub, _ := conn.NewPublisher(clients.PublisherOptions{Exchange: "orders", RoutingKey: "eu"})
	confirm, _ := pub.Publish(ctx, "order-1", []byte("2 apples"))
	fmt.Println("confirm:", confirm.Wait(ctx))
	again, _ := pub.Publish(ctx, "order-1", []byte("2 apples"))
	_ = again.Wait(ctx)
	fmt.Println("same id again is a duplicate:", again.Duplicate())
	refused, _ := pub.PublishTo(ctx, "orders", "us", "order-2", []byte("3 pears"))
	err = refused.Wait(ctx)
	fmt.Println("no route:", clients.IsNoRoute(err))
	_ = pub.Close(ctx)

	got := make(chan string)
	_, _ = conn.Consume(ctx, clients.ConsumerOptions{
		Queue: "eu",
		Handler: func(_ context.Context, d *clients.Delivery) error {
			got <- d.MessageID + ": " + string(d.Body)
			return nil // acked
		},
	})
	fmt.Println("received", <-got)
	// Output:
	// confirm: <nil>
	// same id again is a duplicate: true
	// no route: true
	// received order-1: 2 apples
}

// A refused request is a *BrokerError with the broker's code and reason.
func ExampleBrokerError() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	err = conn.Bind(ctx, "missing", "eu", "eu")
	code, _ := clients.BrokerCode(err)
	fmt.Println(clients.IsNotFound(err), code)
	// Output: true 200
}

// exampleConn dials the example broker with a quiet logger.
func exampleConn(addr string) *clients.Conn {
	conn, err := clients.Dial(context.Background(), addr, clients.Options{ClientName: "example", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return conn
}

// Publish with confirms: one goroutine publishes, another waits on the
// Confirm futures in publish order. The library assigns the message ids
// (the "" argument) and keeps each one across its own resends.
func ExamplePublisher_Publish() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "jobs", clients.QueueOptions{})

	// Exchange "" is the default exchange: it routes to the queue named by
	// the routing key.
	pub, _ := conn.NewPublisher(clients.PublisherOptions{RoutingKey: "jobs", Window: 256})
	futures := make(chan *clients.Confirm, 256)
	confirmed := make(chan int)
	go func() {
		n := 0
		for f := range futures {
			if err := f.Wait(ctx); err != nil {
				fmt.Println("refused:", err)
				continue
			}
			n++
		}
		confirmed <- n
	}()
	for range 1000 {
		f, err := pub.Publish(ctx, "", []byte("work"))
		if err != nil {
			fmt.Println(err)
			break
		}
		futures <- f
	}
	close(futures)
	fmt.Println("confirmed:", <-confirmed)
	_ = pub.Close(ctx)
	// Output: confirmed: 1000
}

// Publish with a confirm callback: nothing waits per message, so a
// high-rate publisher needs no goroutine per outstanding confirm.
func ExamplePublisherOptions_onConfirm() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "jobs", clients.QueueOptions{})

	var confirmed, refused atomic.Int64
	pub, _ := conn.NewPublisher(clients.PublisherOptions{
		RoutingKey: "jobs",
		OnConfirm: func(f *clients.Confirm) { // quick, never blocking
			if f.Err() != nil {
				refused.Add(1)
				return
			}
			confirmed.Add(1)
		},
	})
	for range 1000 {
		if _, err := pub.Publish(ctx, "", []byte("work")); err != nil {
			fmt.Println(err)
			break
		}
	}
	_, _ = pub.PublishTo(ctx, "", "no-such-queue", "", []byte("lost")) // no route
	_ = pub.Close(ctx)                                                 // returns after the last OnConfirm call
	fmt.Println("confirmed:", confirmed.Load(), "refused:", refused.Load())
	// Output: confirmed: 1000 refused: 1
}

// Consume with acks: the handler's return value settles each delivery
// (nil acks it, an error requeues it, clients.Permanent rejects it).
func ExampleConn_Consume() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "jobs", clients.QueueOptions{})
	pub, _ := conn.NewPublisher(clients.PublisherOptions{RoutingKey: "jobs"})
	for _, id := range []string{"job-1", "job-2", "job-3"} {
		_, _ = pub.Publish(ctx, id, []byte("payload of "+id))
	}
	_ = pub.Close(ctx)

	done := make(chan struct{})
	attempts := 0
	cons, _ := conn.Consume(ctx, clients.ConsumerOptions{
		Queue:    "jobs",
		Prefetch: 256,
		Handler: func(_ context.Context, d *clients.Delivery) error {
			attempts++ // handler calls of one consumer are sequential
			if d.MessageID == "job-2" && !d.Redelivered {
				fmt.Println("job-2 failed once; requeued")
				return fmt.Errorf("temporary failure")
			}
			fmt.Println("processed", d.MessageID)
			if d.MessageID == "job-2" {
				close(done)
			}
			return nil // acked
		},
	})
	<-done
	_ = cons.Cancel(ctx)
	fmt.Println("handler calls:", attempts)
	// Output:
	// processed job-1
	// job-2 failed once; requeued
	// processed job-3
	// processed job-2
	// handler calls: 4
}

// A handler that finishes asynchronously returns ErrSettleLater and settles
// the delivery later with Ack, Nack or Reject.
func ExampleDelivery_Ack() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "jobs", clients.QueueOptions{})
	pub, _ := conn.NewPublisher(clients.PublisherOptions{RoutingKey: "jobs"})
	_, _ = pub.Publish(ctx, "job-1", []byte("resize image"))
	_ = pub.Close(ctx)

	results := make(chan error)
	_, _ = conn.Consume(ctx, clients.ConsumerOptions{
		Queue: "jobs",
		Handler: func(_ context.Context, d *clients.Delivery) error {
			go func() { // the work finishes elsewhere
				results <- d.Ack()
			}()
			return clients.ErrSettleLater
		},
	})
	fmt.Println("ack:", <-results)
	// Output: ack: <nil>
}

// Fetch pulls one message without subscribing; the caller settles it.
func ExampleConn_Fetch() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "jobs", clients.QueueOptions{})
	pub, _ := conn.NewPublisher(clients.PublisherOptions{RoutingKey: "jobs"})
	f, _ := pub.Publish(ctx, "job-1", []byte("one"))
	_ = f.Wait(ctx)

	d, ok, err := conn.Fetch(ctx, "jobs")
	fmt.Println(ok, err, d.MessageID, string(d.Body))
	fmt.Println("ack:", d.Ack())
	_, ok, err = conn.Fetch(ctx, "jobs")
	fmt.Println("empty:", !ok, err)
	// Output:
	// true <nil> job-1 one
	// ack: <nil>
	// empty: true <nil>
}

// Encrypted send and receive: the sender seals each message for the
// receiver (package envelope); the broker only routes the sealed bytes; the
// receiver opens them and checks the sender's signature.
func Example_encrypted() {
	addr, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()
	conn := exampleConn(addr)
	defer conn.Close()
	_ = conn.DeclareQueue(ctx, "secrets", clients.QueueOptions{})

	receiverKey, _ := envelope.GenerateRecipientKey(nil) // nil: crypto/rand
	senderKey, _ := envelope.GenerateSigningKey(nil)
	sealer, _ := envelope.NewSessionSealer(envelope.SessionOptions{
		Signer:     senderKey,
		Recipients: []envelope.RecipientPublicKey{receiverKey.Public()},
	})
	opener, _ := envelope.NewSessionOpener(envelope.SessionOpenerOptions{
		Key:     receiverKey,
		Trusted: []ed25519.PublicKey{senderKey.Public().(ed25519.PublicKey)},
	})

	pub, _ := conn.NewPublisher(clients.PublisherOptions{RoutingKey: "secrets"})
	env, _ := sealer.Seal(nil, "order-42", []byte("ship it"), time.Now())
	f, _ := pub.Publish(ctx, "order-42", env) // the id is bound into the envelope
	fmt.Println("confirm:", f.Wait(ctx))

	got := make(chan string)
	_, _ = conn.Consume(ctx, clients.ConsumerOptions{
		Queue: "secrets",
		Handler: func(_ context.Context, d *clients.Delivery) error {
			plaintext, from, err := opener.Open(nil, d.MessageID, d.WholeBody(), time.Now())
			if err != nil {
				got <- err.Error()
				return clients.Permanent(err) // never valid: dead-letter it
			}
			got <- fmt.Sprintf("%s (signed: %v)", plaintext, from.Authenticated)
			return nil
		},
	})
	fmt.Println("received:", <-got)
	// Output:
	// confirm: <nil>
	// received: ship it (signed: true)
}
