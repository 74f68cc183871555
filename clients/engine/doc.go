// Package engine holds the client side of CipherMQ's protocol as
// deterministic state machines, in the style of etcd's raft RawNode: no
// goroutines, no clock reads (time is a parameter), no sockets, no global
// randomness (jitter comes from a Rand the caller passes in). The networked
// library (package clients) and the deterministic simulator (package sim)
// are two drivers of exactly this code.
//
// # Conn
//
// Conn is one broker connection, the client's twin of the broker's
// per-connection session: Handshake writes the preamble and Hello; Receive
// takes each frame the broker sends and says what it meant (an Event):
// HelloOK makes it ready, a Confirm range is mapped from the connection's
// sequence numbers back to the publishers that sent them, a DeliverRef gets
// its shared prefix, a malformed or protocol-breaking frame ends it. Pump
// numbers a publisher's frames in the connection's sequence and writes them,
// by prefix reference where the window allows; FlushSettlements writes the
// consumer engine's acks. Tick, at NextDeadline, applies the heartbeat
// rule. Disconnected makes every publisher take back what was in flight, so
// the next connection resends it. Output holds the bytes to write.
//
// # Publisher
//
// Publisher turns "publish these messages" into native Publish frames and
// the broker's Confirm, ConfirmDup and Nack frames into one Resolution per
// message id: Confirmed, Duplicate or Refused (with the broker's code and
// reason). It keeps
//
//   - the pending messages, by id, in add order;
//   - the in-flight window: at most Window messages sent on the current
//     connection without an answer;
//   - per-connection sequence numbers, restarting at 1 on every connection;
//   - a confirm deadline per in-flight message: when it passes, the message
//     is sent again with a new sequence number and the same id, and the next
//     deadline doubles (exponential backoff with jitter). On a datagram link
//     frames vanish without the connection breaking; this is what recovers.
//
// After a reconnect every unconfirmed message is sent again with its id; the
// broker's dedup window turns the copies that already got through into
// ConfirmDup. An answer for a sequence number the engine does not know (an
// older attempt of a message already resolved, a duplicated frame) changes
// nothing, so each message resolves exactly once.
//
// # Consumer
//
// Consumer tracks the deliveries of one connection and decides, for each,
// whether the application sees it: an id the caller's SeenSet reports as
// processed is acked at once; a second delivery of an id still being
// processed waits for the first; a repeated frame is ignored. The
// application's verdict (Stored, Transient, Permanent) becomes an Ack, a
// NackDelivery with requeue, or a Reject; consecutive acks are batched into
// one Ack{Multiple} only where that cannot ack anything else. When the
// connection breaks every delivery is forgotten (the broker requeues them)
// and no settlement for them is ever sent on a later connection: Ref carries
// the connection's epoch.
//
// The scripts in testdata/interaction show both engines step by step, frame
// by frame; they run as TestInteraction and are the quickest way to see what
// the engines do in a given situation.
//
// # Example
//
// A driver over some transport, with the codec of package wire:
//
//	pub := engine.NewPublisher(engine.PublisherConfig{Window: 256, Rand: rng})
//	pub.Connected(now)
//	_ = pub.Add(engine.Message{ID: "m-1", Exchange: "orders", RoutingKey: "eu", Body: body})
//	for _, f := range pub.Poll(now) {
//		send(f) // encode wire.Publish
//	}
//	// ... a wire.Confirm{First: 1, Last: 1} arrives:
//	pub.HandleConfirm(c)
//	for _, r := range pub.Resolutions() {
//		fmt.Println(r.ID, r.Outcome) // m-1 confirmed
//	}
package engine
