package clients

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConfirmDoneBeforeResolutionIsClosedByIt(t *testing.T) {
	f := &Confirm{id: "m"}
	done := f.Done()
	select {
	case <-done:
		t.Fatal("Done closed before the confirm resolved")
	default:
	}
	if !errors.Is(f.Err(), ErrUnresolved) || f.Duplicate() {
		t.Fatalf("unresolved: Err %v Duplicate %v", f.Err(), f.Duplicate())
	}
	f.resolve(nil, true, false, 1)
	select {
	case <-done:
	default:
		t.Fatal("resolve did not close the channel Done returned earlier")
	}
	if f.Err() != nil || !f.Duplicate() {
		t.Fatalf("resolved as duplicate: Err %v Duplicate %v", f.Err(), f.Duplicate())
	}
}

func TestConfirmResolvesOnceAndDoneAfterwardsIsClosed(t *testing.T) {
	f := &Confirm{id: "m"}
	refused := errors.New("refused")
	f.resolve(refused, false, false, 1)
	f.resolve(nil, true, false, 1) // a later answer changes nothing
	if !errors.Is(f.Err(), refused) || f.Duplicate() {
		t.Fatalf("Err %v Duplicate %v, want the first resolution", f.Err(), f.Duplicate())
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done of a resolved confirm is not closed")
	}
	if err := f.Wait(context.Background()); !errors.Is(err, refused) {
		t.Fatalf("Wait = %v", err)
	}
}

func TestConfirmWaitEndsWithItsContext(t *testing.T) {
	f := &Confirm{id: "m"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := f.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an unresolved confirm = %v, want the context's error", err)
	}
}

func TestConfirmWaitersAndResolverRace(t *testing.T) {
	// Run with -race: waiters asking for the channel while the reader
	// goroutine resolves must all wake, and see the outcome.
	for range 200 {
		f := &Confirm{id: "m"}
		errs := make(chan error, 4)
		for range 4 {
			go func() { errs <- f.Wait(context.Background()) }()
		}
		f.resolve(nil, false, false, 1)
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("Wait = %v", err)
			}
		}
	}
}

func TestPublishAllocatesLittle(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 1 << 16})
	ctx := testCtx(t)
	body := make([]byte, 512)
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = "alloc-" + time.Duration(i).String()
	}
	i := 0
	// Counted in the whole process, so the broker's copy of each message
	// (it stores it) is included: that is 1, the publisher's buffer 1, the
	// rest slab shares and amortised map growth. Before the slabs and the
	// lazy Done channel this was 7.
	allocs := testing.AllocsPerRun(2000, func() {
		if _, err := p.Publish(ctx, ids[i], body); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs > 4 {
		t.Fatalf("Publish: %.2f allocations per message in the process, want at most 4", allocs)
	}
}
