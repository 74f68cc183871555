package clients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Messages published without an id get one from the library, unique, and
// kept across resends: after connection cuts the broker's dedup still
// recognises the copies, so the queue holds each message exactly once.
func TestPublishWithoutIDAssignsStableIDs(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 64})
	other := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	const n = 1500
	fs := make([]*Confirm, 0, n+1)
	for i := range n {
		if i > 0 && i%500 == 0 {
			cutLive(t, c, p)
		}
		f, err := pub.Publish(ctx, "", []byte("payload"))
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		fs = append(fs, f)
	}
	f, err := other.Publish(ctx, "", []byte("from the other publisher"))
	if err != nil {
		t.Fatal(err)
	}
	fs = append(fs, f)
	seen := map[string]bool{}
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm of %s: %v", f.ID(), err)
		}
		if f.ID() == "" || seen[f.ID()] || strings.ContainsAny(f.ID(), " \t\n") {
			t.Fatalf("assigned id %q: empty, repeated or invalid", f.ID())
		}
		seen[f.ID()] = true
	}
	if got := b.queue("q").Ready; got != n+1 {
		t.Fatalf("queue holds %d, want exactly %d (an id changed on resend, or two messages shared one)", got, n+1)
	}
	if st := pub.Stats(); st.Resent == 0 {
		t.Logf("no resend happened (the cuts fell between confirms); the ids were still unique: %+v", st)
	}
}

// OnConfirm is called once per message, with the Confirm Publish returned,
// in the order of the answers, also for refusals; Close returns after the
// last call.
func TestOnConfirmCallsOncePerMessage(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	var mu sync.Mutex
	calls := map[*Confirm]int{}
	var order []string
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 16, OnConfirm: func(f *Confirm) {
		if f.Err() == ErrUnresolved {
			t.Errorf("OnConfirm got an unresolved confirm %s", f.ID())
		}
		mu.Lock()
		calls[f]++
		order = append(order, f.ID())
		mu.Unlock()
	}})
	const n = 500
	var published []*Confirm
	for i := range n {
		key := "q"
		if i%100 == 99 {
			key = "nowhere" // refused: no route
		}
		f, err := pub.PublishTo(ctx, "ex", key, fmt.Sprintf("m-%03d", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		published = append(published, f)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != n {
		t.Fatalf("OnConfirm saw %d confirms, want %d", len(calls), n)
	}
	refused := 0
	for i, f := range published {
		if calls[f] != 1 {
			t.Fatalf("confirm %s: %d calls, want 1", f.ID(), calls[f])
		}
		if IsNoRoute(f.Err()) {
			refused++
		} else if f.Err() != nil {
			t.Fatalf("message %d: %v", i, f.Err())
		}
	}
	if refused != n/100 {
		t.Fatalf("%d refusals seen, want %d", refused, n/100)
	}
	// One publisher on one connection: the broker answers in publish order.
	for i, id := range order {
		if want := fmt.Sprintf("m-%03d", i); id != want {
			t.Fatalf("call %d was for %s, want %s", i, id, want)
		}
	}
}

// An OnConfirm that publishes again (a chain of messages) does not deadlock.
func TestOnConfirmMayPublish(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	done := make(chan struct{})
	var pub *Publisher
	var count int
	pub = newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", OnConfirm: func(f *Confirm) {
		count++ // calls are one at a time
		if count == 50 {
			close(done)
			return
		}
		if _, err := pub.Publish(ctx, "", []byte("next")); err != nil {
			t.Errorf("publish from OnConfirm: %v", err)
		}
	}})
	if _, err := pub.Publish(ctx, "", []byte("first")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the chain stopped after %d confirms", count)
	}
	if got := b.queue("q").Ready; got != 50 {
		t.Fatalf("queue holds %d, want 50", got)
	}
}

// Publishing to the nameless default exchange reaches the queue named by
// the routing key, with no binding.
func TestPublishToTheDefaultExchange(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareQueue(ctx, "direct-to-me", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	pub := newPublisher(t, c, PublisherOptions{RoutingKey: "direct-to-me"})
	f, err := pub.Publish(ctx, "", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if got := b.queue("direct-to-me").Ready; got != 1 {
		t.Fatalf("queue holds %d, want 1", got)
	}
	f, err = pub.PublishTo(ctx, "", "no-such-queue", "", []byte("lost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); !IsNoRoute(err) {
		t.Fatalf("publish to a missing queue through the default exchange: %v, want no route", err)
	}
}

// Messages abandoned by Close (the broker never answered) reach OnConfirm
// too, once each, with ErrUnconfirmed, and before Close returns.
func TestOnConfirmSeesAbandonedMessages(t *testing.T) {
	sb := startSilentBroker(t, 0)
	c := dial(t, sb.addr())
	ctx := testCtx(t)
	var mu sync.Mutex
	calls := map[string]error{}
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", OnConfirm: func(f *Confirm) {
		mu.Lock()
		defer mu.Unlock()
		if _, again := calls[f.ID()]; again {
			t.Errorf("OnConfirm called twice for %s", f.ID())
		}
		calls[f.ID()] = f.Err()
	}})
	for i := range 5 {
		if _, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond) // the silent broker never confirms
	defer cancel()
	if err := pub.Close(short); err == nil {
		t.Fatal("Close with 5 unconfirmed messages returned nil")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 5 {
		t.Fatalf("OnConfirm saw %d messages, want 5", len(calls))
	}
	for id, err := range calls {
		if !errors.Is(err, ErrUnconfirmed) {
			t.Fatalf("%s: %v, want ErrUnconfirmed", id, err)
		}
	}
}
