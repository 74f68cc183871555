package clients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// setupQueue declares exchange ex (direct) and queue q bound with key q.
func setupQueue(t testing.TB, c *Conn, q string, o QueueOptions) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.DeclareExchange(ctx, "ex", Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue(ctx, q, o); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "ex", q, q); err != nil {
		t.Fatal(err)
	}
}

func newPublisher(t *testing.T, c *Conn, o PublisherOptions) *Publisher {
	t.Helper()
	p, err := c.NewPublisher(o)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	return p
}

func TestPublishIsConfirmedAndStored(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	var fs []*Confirm
	for i := range 100 {
		f, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("hello"))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm of %s: %v", f.ID(), err)
		}
		if f.Err() != nil || f.Duplicate() {
			t.Fatalf("%s: Err %v Duplicate %v after Wait", f.ID(), f.Err(), f.Duplicate())
		}
	}
	if got := b.queue("q").Ready; got != 100 {
		t.Fatalf("queue holds %d messages, want 100", got)
	}
	if s := p.Stats(); s.Confirmed != 100 || s.Sent != 100 {
		t.Fatalf("publisher stats %+v", s)
	}
}

func TestPublishSameIDAgainIsConfirmedAsDuplicate(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	for i, wantDup := range []bool{false, true} {
		f, err := p.Publish(ctx, "same", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if f.Duplicate() != wantDup {
			t.Fatalf("attempt %d: Duplicate %v, want %v", i, f.Duplicate(), wantDup)
		}
	}
	if got := b.queue("q").Ready; got != 1 {
		t.Fatalf("queue holds %d, want 1 (the duplicate is not enqueued)", got)
	}
}

func TestPublishRefusalsAreTypedErrors(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "small", QueueOptions{MaxLength: 1})
	ctx := testCtx(t)
	p := newPublisher(t, c, PublisherOptions{})
	// Fill the small queue.
	f, err := p.PublishTo(ctx, "ex", "small", "fill", []byte("x"))
	if err != nil || f.Wait(ctx) != nil {
		t.Fatalf("filling: %v %v", err, f.Err())
	}
	tests := []struct {
		name     string
		exchange string
		key      string
		check    func(error) bool
		code     uint16
	}{
		{"unknown exchange", "nope", "k", IsNotFound, CodeExchangeNotFound},
		{"no route", "ex", "unbound", IsNoRoute, CodeNoRoute},
		{"queue full", "ex", "small", IsQueueFull, CodeQueueFull},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := p.PublishTo(ctx, tc.exchange, tc.key, fmt.Sprintf("r-%d", i), []byte("x"))
			if err != nil {
				t.Fatalf("PublishTo: %v", err)
			}
			err = f.Wait(ctx)
			var be *BrokerError
			if !errors.As(err, &be) || be.Code != tc.code || !tc.check(err) {
				t.Fatalf("confirm error %v, want a *BrokerError with code %d", err, tc.code)
			}
			if be.Reason == "" || !strings.Contains(err.Error(), fmt.Sprintf("r-%d", i)) {
				t.Fatalf("error %q lacks the reason or the message id", err)
			}
		})
	}
	if s := p.Stats(); s.Refused != 3 {
		t.Fatalf("refused %d, want 3", s.Refused)
	}
}

func TestPublishInvalidArgumentsAreRefusedLocally(t *testing.T) {
	b := startBroker(t, func(cfg *serverConfig) { cfg.MaxMessageSize = 1000 })
	c := dial(t, b.addr)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	tests := []struct {
		name string
		call func() (*Confirm, error)
	}{
		{"long id", func() (*Confirm, error) { return p.Publish(ctx, strings.Repeat("i", 256), nil) }},
		{"body above the broker's limit", func() (*Confirm, error) { return p.Publish(ctx, "big", make([]byte, 1001)) }},
		{"exchange name too long", func() (*Confirm, error) { return p.PublishTo(ctx, strings.Repeat("x", 256), "q", "m", nil) }},
		{"long routing key", func() (*Confirm, error) { return p.PublishTo(ctx, "ex", strings.Repeat("k", 256), "m", nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := tc.call(); !errors.Is(err, ErrInvalid) || f != nil {
				t.Fatalf("got %v, %v; want ErrInvalid and no confirm", f, err)
			}
		})
	}
	if p.Pending() != 0 {
		t.Fatalf("%d pending after refused arguments", p.Pending())
	}
}

func TestPublishAboveTheBrokersFrameLimitIsRefusedLocally(t *testing.T) {
	// The real broker refuses to start with a frame limit that cannot
	// carry its largest message; this fake announces such limits anyway.
	fake := startFakeBroker(t, wire.HelloOK{ServerName: "fake", MaxFrameSize: 8192, MaxMessageSize: 8192})
	c := dial(t, fake.addr())
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	if _, err := p.Publish(ctx, "big", make([]byte, 8192)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "frame") {
		t.Fatalf("publish of an oversized frame: %v, want ErrInvalid naming the frame limit", err)
	}
	if _, err := p.Publish(ctx, "fits", make([]byte, 4096)); err != nil {
		t.Fatalf("a message within the limit: %v", err)
	}
}

func TestPublishPendingIDIsRefused(t *testing.T) {
	b := startBroker(t)
	// With the broker gone the first publish stays unconfirmed.
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	b.stop()
	eventually(t, "the client to notice", func() bool { return !c.Connected() })
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	f, err := p.Publish(ctx, "one", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Err() != ErrUnresolved {
		t.Fatalf("Err before any answer: %v, want ErrUnresolved", f.Err())
	}
	if _, err := p.Publish(ctx, "one", []byte("x")); err == nil || !strings.Contains(err.Error(), "already pending") {
		t.Fatalf("second publish of a pending id: %v", err)
	}
}

func TestPublishBlocksWhileTheWindowIsFull(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	b.stop() // nothing will be confirmed
	eventually(t, "the client to notice", func() bool { return !c.Connected() })
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 2})
	ctx := testCtx(t)
	for i := range 2 {
		if _, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := p.Publish(short, "m-2", nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "window") {
		t.Fatalf("publish into a full window: %v, want a deadline error naming the window", err)
	}
	if s := p.Stats(); s.Published != 2 || p.Pending() != 2 {
		t.Fatalf("after the refused publish: %d added, %d pending; want 2 and 2", s.Published, p.Pending())
	}
	// A broker again (empty: the client declares the topology again and
	// resends what is pending): only the two accepted messages arrive.
	b.restart()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := b.queue("q").Ready; got != 2 {
		t.Fatalf("queue holds %d messages, want the 2 accepted ones", got)
	}
}

// TestPublishWithADoneContextIsNotAccepted: a context already done refuses
// the publish even though the window has room, and nothing is sent.
func TestPublishWithADoneContextIsNotAccepted(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	done, cancel := context.WithCancel(ctx)
	cancel()
	pre := NewPrefix([]byte("prefix "))
	for name, publish := range map[string]func() (*Confirm, error){
		"Publish":         func() (*Confirm, error) { return p.Publish(done, "refused-1", []byte("x")) },
		"PublishTo":       func() (*Confirm, error) { return p.PublishTo(done, "ex", "q", "refused-2", []byte("x")) },
		"PublishPrefixed": func() (*Confirm, error) { return p.PublishPrefixed(done, "ex", "q", "refused-3", pre, []byte("x")) },
	} {
		f, err := publish()
		if !errors.Is(err, context.Canceled) || f != nil {
			t.Fatalf("%s with a cancelled context: confirm %v, err %v; want no confirm and context.Canceled", name, f, err)
		}
	}
	if s := p.Stats(); s.Published != 0 || s.Sent != 0 || p.Pending() != 0 {
		t.Fatalf("after refused publishes: %+v, %d pending; want nothing added or sent", s, p.Pending())
	}
	// The broker handles a connection's frames in order: once a later
	// publish is confirmed, any earlier one would be in the queue too.
	f, err := p.Publish(ctx, "accepted", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.queue("q").Ready; got != 1 {
		t.Fatalf("queue holds %d messages, want only the accepted one", got)
	}
	// The refused ids were never taken: they can be published now.
	f, err = p.Publish(ctx, "refused-1", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil || f.Duplicate() {
		t.Fatalf("publishing a refused id again: %v (duplicate %t), want a plain confirm", err, f.Duplicate())
	}
}

func TestPublisherCloseWaitsForEveryConfirm(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 16})
	ctx := testCtx(t)
	var fs []*Confirm
	for i := range 200 {
		f, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, f := range fs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("%s unresolved after Close returned", f.ID())
		}
		if f.Err() != nil {
			t.Fatalf("%s: %v", f.ID(), f.Err())
		}
	}
	if _, err := p.Publish(ctx, "late", nil); !errors.Is(err, ErrPublisherClosed) {
		t.Fatalf("publish after Close: %v, want ErrPublisherClosed", err)
	}
	if got := b.queue("q").Ready; got != 200 {
		t.Fatalf("queue holds %d, want 200", got)
	}
}

func TestPublisherCloseGivesUpWhenContextEnds(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	b.stop()
	eventually(t, "the client to notice", func() bool { return !c.Connected() })
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	f, err := p.Publish(testCtx(t), "stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
	defer cancel()
	err = p.Close(short)
	if err == nil || !strings.Contains(err.Error(), "1 messages still unconfirmed") {
		t.Fatalf("Close: %v, want a count of unconfirmed messages", err)
	}
	if !errors.Is(f.Err(), ErrUnconfirmed) {
		t.Fatalf("abandoned confirm: %v, want ErrUnconfirmed", f.Err())
	}
}

func TestConnCloseResolvesPendingConfirms(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	b.stop()
	eventually(t, "the client to notice", func() bool { return !c.Connected() })
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	f, err := p.Publish(testCtx(t), "stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(testCtx(t)); !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("confirm after Conn.Close: %v, want ErrUnconfirmed", err)
	}
}

func TestSeveralPublishersShareAConnection(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	const pubs, each = 4, 250
	errs := make(chan error, pubs)
	for i := range pubs {
		p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 8})
		go func() {
			for j := range each {
				if _, err := p.Publish(ctx, fmt.Sprintf("p%d-%d", i, j), []byte("x")); err != nil {
					errs <- err
					return
				}
			}
			errs <- p.Close(ctx)
		}()
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := b.queue("q").Ready; got != pubs*each {
		t.Fatalf("queue holds %d, want %d", got, pubs*each)
	}
}

// TestUnansweredPublishIsResentAfterTheConfirmTimeout: a broker that
// silently loses the first attempt of every message (the connection stays
// up) still gets each message confirmed, through the confirm timeout.
func TestUnansweredPublishIsResentAfterTheConfirmTimeout(t *testing.T) {
	var mu sync.Mutex
	attempts := map[string][]uint64{}
	addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
		if typ != wire.FramePublish {
			return nil
		}
		var p wire.Publish
		if err := wire.DecodePublish(payload, &p); err != nil {
			t.Errorf("decode publish: %v", err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		id := string(p.MessageID)
		attempts[id] = append(attempts[id], p.Seq)
		if len(attempts[id]) == 1 {
			return nil // lost
		}
		return wire.AppendConfirm(nil, &wire.Confirm{First: p.Seq, Last: p.Seq})
	})
	c := dial(t, addr)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", ConfirmTimeout: 20 * time.Millisecond})
	ctx := testCtx(t)
	var fs []*Confirm
	for _, id := range []string{"a", "b", "c"} {
		f, err := p.Publish(ctx, id, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", f.ID(), err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, seqs := range attempts {
		if len(seqs) < 2 || seqs[1] <= seqs[0] {
			t.Fatalf("%s sent with seqs %v, want a resend with a new, higher seq", id, seqs)
		}
	}
	if s := p.Stats(); s.Timeouts < 3 || s.Resent < 3 || s.Confirmed != 3 {
		t.Fatalf("publisher stats %+v", s)
	}
	if c.ClientStats().Reconnects != 0 {
		t.Fatal("the connection was replaced; the resend must come from the timeout")
	}
}

// TestShuttingDownNackIsRetried: a broker answering "shutting down" has not
// refused the message for good; the publisher keeps it and sends it again.
func TestShuttingDownNackIsRetried(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
		if typ != wire.FramePublish {
			return nil
		}
		var p wire.Publish
		if err := wire.DecodePublish(payload, &p); err != nil {
			t.Errorf("decode publish: %v", err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen[string(p.MessageID)]++
		if seen[string(p.MessageID)] == 1 {
			return wire.AppendNack(nil, &wire.Nack{Seq: p.Seq, Code: CodeShuttingDown, Reason: "server shutting down"})
		}
		return wire.AppendConfirm(nil, &wire.Confirm{First: p.Seq, Last: p.Seq})
	})
	c := dial(t, addr)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", ConfirmTimeout: 20 * time.Millisecond})
	f, err := p.Publish(testCtx(t), "a", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(testCtx(t)); err != nil {
		t.Fatalf("confirm after a shutting-down nack: %v", err)
	}
	if s := p.Stats(); s.RetryNacks != 1 || s.Refused != 0 {
		t.Fatalf("publisher stats %+v", s)
	}
}

// TestStrayBrokerFramesHarmNothing: a broker that mixes answers for unknown
// sequence numbers, deliveries for a consumer the client never had, and
// other stray frames into its stream must not break the connection nor
// resolve anything wrongly; a stray delivery is given back (requeued).
func TestStrayBrokerFramesHarmNothing(t *testing.T) {
	var mu sync.Mutex
	var tag uint64
	requeued := map[uint64]bool{}
	addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		switch typ {
		case wire.FrameNackDelivery:
			var n wire.NackDelivery
			if wire.DecodeNackDelivery(payload, &n) == nil && n.Requeue {
				requeued[n.DeliveryTag] = true
			}
			return nil
		case wire.FramePublish:
		default:
			return nil
		}
		var p wire.Publish
		if err := wire.DecodePublish(payload, &p); err != nil {
			t.Errorf("decode publish: %v", err)
			return nil
		}
		tag++
		var out []byte
		out = wire.AppendConfirm(out, &wire.Confirm{First: p.Seq + 1000, Last: p.Seq + 2000})
		out = wire.AppendConfirmDup(out, &wire.ConfirmDup{Seq: p.Seq + 999})
		out = wire.AppendNack(out, &wire.Nack{Seq: p.Seq + 5000, Code: CodeQueueFull, Reason: "stray"})
		out = wire.AppendDeliver(out, &wire.Deliver{ConsumerTag: []byte("nobody"), DeliveryTag: tag, DeliveryCount: 1, Queue: []byte("q"), MessageID: []byte("stray"), Body: []byte("x")})
		out = wire.AppendAckRefused(out, &wire.AckRefused{DeliveryTag: 77, Code: 400, Reason: "stray"})
		out = wire.AppendCancelled(out, &wire.Cancelled{ConsumerTag: "nobody", Reason: "stray"})
		out = wire.AppendOK(out, &wire.OK{ReqID: 424242})
		out = wire.AppendHeartbeat(out)
		return wire.AppendConfirm(out, &wire.Confirm{First: p.Seq, Last: p.Seq})
	})
	c := dial(t, addr)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	for i := range 20 {
		f, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil || f.Duplicate() {
			t.Fatalf("%s: %v (duplicate %v): a stray answer resolved it", f.ID(), err, f.Duplicate())
		}
	}
	eventually(t, "every stray delivery given back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(requeued) == 20
	})
	if c.ClientStats().Reconnects != 0 {
		t.Fatal("stray frames broke the connection")
	}
	if s := p.Stats(); s.Confirmed != 20 || s.Refused != 0 || s.Duplicates != 0 {
		t.Fatalf("publisher stats %+v", s)
	}
}
