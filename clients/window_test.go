package clients

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// The window is waited on through one channel made only while it is full;
// many goroutines blocked on it at once must all get through, and the
// window must never be exceeded.
func TestConcurrentPublishesThroughASmallWindowAllConfirm(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	const window, workers, each = 3, 6, 150
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: window})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var mu sync.Mutex
	var futures []*Confirm
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				f, err := p.Publish(ctx, fmt.Sprintf("w%d-%d", w, i), []byte("x"))
				if err != nil {
					errs <- err
					return
				}
				if n := p.Pending(); n > window {
					errs <- fmt.Errorf("%d pending with a window of %d", n, window)
					return
				}
				mu.Lock()
				futures = append(futures, f)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, f := range futures {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm of %s: %v", f.ID(), err)
		}
	}
	if got := b.queue("q").Ready; got != workers*each {
		t.Fatalf("queue holds %d messages, want %d", got, workers*each)
	}
}

// Publishers blocked on a full window are released by Close with a clear
// error, not left waiting.
func TestPublisherCloseReleasesPublishesBlockedOnTheWindow(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	b.stop() // nothing will be confirmed
	eventually(t, "the client to notice", func() bool { return !c.Connected() })
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 1})
	ctx := testCtx(t)
	if _, err := p.Publish(ctx, "first", nil); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := p.Publish(ctx, fmt.Sprintf("blocked-%d", i), nil)
			blocked <- err
		}()
	}
	eventually(t, "a publish to wait on the full window", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return p.room != nil
	})
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	for range 2 {
		if err := <-blocked; !errors.Is(err, ErrPublisherClosed) {
			t.Fatalf("blocked publish ended with %v, want ErrPublisherClosed", err)
		}
	}
	c.Close() // lets Close give up on "first"
	<-closed
}

// Frames the reader holds whole are applied in one batch; a frame of an
// unknown type inside that batch is skipped and the rest still applied.
func TestUnknownFrameInsideABatchIsSkipped(t *testing.T) {
	addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
		if typ != wire.FramePublish {
			return nil
		}
		var p wire.Publish
		if err := wire.DecodePublish(payload, &p); err != nil {
			t.Errorf("decode publish: %v", err)
			return nil
		}
		out := wire.AppendHeartbeat(nil)
		out = append(out, 0, 0, 0, 3, 0xEE, 'h', 'i') // type 0xEE, 2-byte payload
		return wire.AppendConfirm(out, &wire.Confirm{First: p.Seq, Last: p.Seq})
	})
	c := dial(t, addr)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	for i := range 5 {
		f, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", f.ID(), err)
		}
	}
	if st := c.ClientStats(); st.Connects != 1 {
		t.Fatalf("%d sessions: the unknown frame broke the connection", st.Connects)
	}
}
