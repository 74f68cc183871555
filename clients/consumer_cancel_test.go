package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// queueConsumers asks the broker, through the library's Stats request on
// conn, how many consumers queue q has.
func queueConsumers(t *testing.T, conn *Conn, q string) int {
	t.Helper()
	raw, err := conn.Stats(testCtx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	var st broker.Stats
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("decode stats: %v", err)
	}
	for _, qs := range st.Queues {
		if qs.Name == q {
			return qs.Consumers
		}
	}
	t.Fatalf("no queue %q in the broker's stats", q)
	return 0
}

// TestCancelReturnsOnceTheBrokerDroppedTheConsumer: when Cancel returns
// nil the broker no longer has the consumer, at once, without polling. The
// broker is asked directly (its own Stats, not ordered after anything the
// client sent) and through another connection's Stats request. Before
// Cancel waited for the broker's answer, the Cancel frame was often still
// on its way, and this failed.
func TestCancelReturnsOnceTheBrokerDroppedTheConsumer(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	observer := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	for i := range 10 {
		cs := consume(t, c, ConsumerOptions{Queue: "q", Tag: fmt.Sprintf("c-%d", i), Handler: func(context.Context, *Delivery) error { return nil }})
		if err := cs.Cancel(ctx); err != nil {
			t.Fatalf("Cancel %d: %v", i, err)
		}
		if n := b.queue("q").Consumers; n != 0 {
			t.Fatalf("round %d: the broker still counts %d consumers on q after Cancel returned", i, n)
		}
		if n := queueConsumers(t, observer, "q"); n != 0 {
			t.Fatalf("round %d: Stats through another connection count %d consumers on q after Cancel returned", i, n)
		}
	}
	// Nothing more is delivered: a message published now stays ready.
	publishAll(t, c, "q", 1)
	if q := b.queue("q"); q.Ready != 1 || q.Unacked != 0 || q.Delivered != 0 {
		t.Fatalf("after every consumer was cancelled: %+v, want the message ready and never delivered", q)
	}
}

// consumerBehindProxy subscribes a consumer to queue q of a broker reached
// through a proxy the test can cut or make swallow client frames.
func consumerBehindProxy(t *testing.T) (*testBroker, *cutProxy, *Conn, *Consumer) {
	t.Helper()
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{})
	cs := consume(t, c, ConsumerOptions{Queue: "q", Handler: func(context.Context, *Delivery) error { return nil }})
	return b, p, c, cs
}

// TestCancelWaitsForTheBrokersAnswer: a Cancel that never reaches the
// broker is not reported as done.
func TestCancelWaitsForTheBrokersAnswer(t *testing.T) {
	b, p, _, cs := consumerBehindProxy(t)
	p.swallow.Store(true)
	short, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	err := cs.Cancel(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "broker's answer") {
		t.Fatalf("Cancel whose frame never arrives: %v, want a deadline error waiting for the broker's answer", err)
	}
	if n := b.queue("q").Consumers; n != 1 {
		t.Fatalf("the broker counts %d consumers, want 1: the Cancel was swallowed", n)
	}
}

// TestCancelCountsALostConnectionAsCancelled: the broker drops a dead
// connection's consumers, and the library does not subscribe a cancelled
// consumer again.
func TestCancelCountsALostConnectionAsCancelled(t *testing.T) {
	_, p, c, cs := consumerBehindProxy(t)
	p.swallow.Store(true)
	done := make(chan error, 1)
	go func() { done <- cs.Cancel(testCtx(t)) }()
	eventually(t, "the Cancel request to be outstanding", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.reqs) > 0
	})
	p.swallow.Store(false)
	p.cut()
	if err := <-done; err != nil {
		t.Fatalf("Cancel across a lost connection: %v, want nil", err)
	}
	eventually(t, "the client to reconnect", c.Connected)
	if n := queueConsumers(t, c, "q"); n != 0 {
		t.Fatalf("after the reconnect the queue has %d consumers, want 0", n)
	}
}

// TestCancelReturnsTheBrokersRefusal: a refusal of the Cancel is the
// caller's to see, naming the consumer; "no such consumer" is not one.
func TestCancelReturnsTheBrokersRefusal(t *testing.T) {
	for _, tc := range []struct {
		code    uint16
		wantErr bool
	}{{CodeResourceLimit, true}, {CodeConsumerNotFound, false}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
				switch typ {
				case wire.FrameConsume:
					var f wire.Consume
					if err := wire.DecodeConsume(payload, &f); err != nil {
						t.Errorf("decode consume: %v", err)
						return nil
					}
					return wire.AppendConsumeOK(nil, &wire.ConsumeOK{ReqID: f.ReqID, ConsumerTag: f.ConsumerTag})
				case wire.FrameCancel:
					var f wire.Cancel
					if err := wire.DecodeCancel(payload, &f); err != nil {
						t.Errorf("decode cancel: %v", err)
						return nil
					}
					return wire.AppendError(nil, &wire.Error{ReqID: f.ReqID, Code: tc.code, Message: "scripted refusal"})
				}
				return nil
			})
			c := dial(t, addr)
			cs := consume(t, c, ConsumerOptions{Queue: "q", Tag: "the-tag", Handler: func(context.Context, *Delivery) error { return nil }})
			err := cs.Cancel(testCtx(t))
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Cancel answered %d: %v, want nil (the consumer is gone)", tc.code, err)
				}
				return
			}
			if code, ok := BrokerCode(err); !ok || code != tc.code || !strings.Contains(err.Error(), `"the-tag"`) {
				t.Fatalf("Cancel refused with code %d: %v, want a *BrokerError with that code naming the tag", tc.code, err)
			}
		})
	}
}
