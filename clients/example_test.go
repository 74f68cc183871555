package clients_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
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
