// Package clients is the Go client library of CipherMQ: a connection to the
// broker over the native protocol that repairs itself, publishers with
// confirms, and consumers with acknowledgements.
//
// The protocol and reliability logic (the handshake, frame dispatch,
// sequence numbers and confirm mapping, shared-prefix windows, windows,
// retries, dedup decisions, ack batching) is not here: it lives in the
// deterministic connection engine of package clients/engine (engine.Conn
// and the publisher and consumer engines under it), which the fault
// simulator drives too. This package is its networked driver: sockets,
// TLS, goroutines, timers, requests and one mutex.
//
// # Guarantees
//
//   - A Confirm resolves exactly once. nil means the broker holds the
//     message in every queue it routed to; a *BrokerError carries the
//     broker's refusal code and reason (IsNoRoute, IsQueueFull, ...).
//   - Publishing survives reconnects: every unconfirmed message is sent again
//     with its id, and the broker's dedup window drops the copies it already
//     has (Confirm.Duplicate reports it). A refusal of a message sent more
//     than once (Confirm.Sends > 1) is not definite, since an earlier attempt
//     may have been stored if the dedup window had forgotten the id:
//     IsIndeterminate reports it.
//   - A delivery is acked only after its handler returned nil, or when the
//     application calls Delivery.Ack (a handler that finishes
//     asynchronously returns ErrSettleLater). A handler error (or Nack)
//     requeues it; an error wrapped with Permanent (or Reject) dead-letters
//     it.
//     With ConsumerOptions.Seen, ids already processed are acked without
//     calling the handler, so a receiver that records ids durably before
//     returning nil processes each message once.
//   - After a reconnect, the exchanges, queues and bindings declared through
//     the Conn are declared again and consumers subscribe again.
//
// # Example
//
//	ctx := context.Background()
//	conn, err := clients.Dial(ctx, "127.0.0.1:5672", clients.Options{ClientName: "orders"})
//	if err != nil {
//		return err // "cannot reach broker at 127.0.0.1:5672: ...; is `ciphermq server` running?"
//	}
//	defer conn.Close()
//	if err := conn.DeclareExchange(ctx, "shop", clients.Direct); err != nil {
//		return err
//	}
//	if err := conn.DeclareQueue(ctx, "orders", clients.QueueOptions{MaxLength: 100000}); err != nil {
//		return err
//	}
//	if err := conn.Bind(ctx, "shop", "orders", "orders"); err != nil {
//		return err
//	}
//
//	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "shop", RoutingKey: "orders"})
//	if err != nil {
//		return err
//	}
//	confirm, err := pub.Publish(ctx, "order-1", []byte("..."))
//	if err != nil {
//		return err
//	}
//	if err := confirm.Wait(ctx); err != nil {
//		return err // e.g. a *BrokerError: IsQueueFull(err)
//	}
//	_ = pub.Close(ctx) // waits for every confirm
//
//	cons, err := conn.Consume(ctx, clients.ConsumerOptions{
//		Queue:    "orders",
//		Prefetch: 64,
//		Handler: func(ctx context.Context, d *clients.Delivery) error {
//			if err := store(d); err != nil {
//				return err // requeued
//			}
//			return nil // acked
//		},
//	})
//
// The message id may be left empty: the publisher then makes one, kept for
// every resend. PublisherOptions.OnConfirm is called once per resolved
// confirm, so a high-rate publisher needs no goroutine per outstanding
// confirm. An empty exchange is AMQP's default exchange: it routes to the
// queue named by the routing key. Conn.Fetch pulls one message without
// subscribing. BrokerStats asks the broker for its counters; every other
// Stats method returns the library's own. The runnable examples show each.
//
// For group commit, BatchHandler receives every delivery buffered at that
// moment: append them, fsync once, return nil for each, and they are acked
// with one Ack{Multiple} where the protocol allows.
//
// # Shared prefixes
//
// Messages that begin with the same bytes (every cmq1 envelope of a sealing
// session repeats its ~1.2 KB signed header) can be published with
// PublishPrefixed and a Prefix handle made once per run of equal prefixes
// (PrefixHandles does it for envelope.SessionSealer.SealParts). On a
// connection that negotiated the feature (docs/protocol.md §5a; on by
// default, Options.NoSharedPrefixes turns it off) the prefix travels once
// per connection and the broker stores it once; otherwise the message is
// sent whole. Every reader still sees the whole body. A consumer that sets
// ConsumerOptions.SplitPrefix receives such bodies as Delivery.Prefix (the
// connection's shared copy) and Body (the rest), which saves a copy of the
// prefix per delivery; envelope.OpenParts opens them without joining.
package clients
