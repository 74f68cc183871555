package bench

import (
	"sync"
	"testing"
)

func TestLedgerCleanRun(t *testing.T) {
	l := NewLedger(2, 4)
	for p := range 2 {
		for s := range uint64(10) {
			l.Confirmed(p, s)
			l.Received(p, s)
		}
	}
	if !l.Drained() {
		t.Fatal("every confirmed message arrived, but not drained")
	}
	got := l.Tally()
	want := Tally{Confirmed: 20, Received: 20, Unique: 20}
	if got != want {
		t.Fatalf("tally = %+v, want %+v", got, want)
	}
}

func TestLedgerReportsLostDuplicatedForeignUnconfirmed(t *testing.T) {
	l := NewLedger(2, 0)
	l.Confirmed(0, 0)
	l.Received(0, 0)
	l.Received(0, 0)  // duplicate
	l.Received(0, 0)  // and again
	l.Confirmed(0, 1) // lost: confirmed, never received
	l.Received(1, 5)  // received, never confirmed (refused, or still in flight)
	l.Received(7, 0)  // no publisher 7: foreign
	if l.Drained() {
		t.Fatal("message 0-1 is confirmed and missing, but the ledger says drained")
	}
	got := l.Tally()
	want := Tally{Confirmed: 2, Received: 5, Unique: 2, Lost: 1, Duplicated: 2, Foreign: 1, Unconfirm: 1}
	if got != want {
		t.Fatalf("tally = %+v, want %+v", got, want)
	}
}

func TestLedgerForeignFarAheadDoesNotAllocate(t *testing.T) {
	l := NewLedger(1, 0)
	l.Received(0, 1<<50) // a corrupt header: must not grow the ledger to 2^50 bytes
	l.Received(0, maxAhead+5)
	if got := l.Tally(); got.Foreign != 2 || got.Unique != 0 {
		t.Fatalf("tally = %+v, want 2 foreign", got)
	}
	if n := len(l.pubs[0].state); n != 0 {
		t.Fatalf("ledger grew to %d entries for foreign ids", n)
	}
}

func TestLedgerConfirmAfterReceiptCountsAsArrived(t *testing.T) {
	l := NewLedger(1, 0)
	l.Received(0, 3) // a consumer can be faster than the confirm
	l.Confirmed(0, 3)
	l.Confirmed(0, 3) // a repeated confirm counts once
	if !l.Drained() {
		t.Fatal("received before confirmed: not drained")
	}
	if got := l.Tally(); got.Confirmed != 1 || got.Lost != 0 || got.Unique != 1 {
		t.Fatalf("tally = %+v", got)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	const pubs, n = 4, 5000
	l := NewLedger(pubs, 16)
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for s := range uint64(n) {
				l.Confirmed(p, s)
			}
		}()
		go func() {
			defer wg.Done()
			for s := range uint64(n) {
				l.Received(p, s)
			}
		}()
	}
	wg.Wait()
	got := l.Tally()
	if got.Confirmed != pubs*n || got.Unique != pubs*n || got.Lost != 0 || got.Duplicated != 0 || !l.Drained() {
		t.Fatalf("tally = %+v drained %v", got, l.Drained())
	}
}
