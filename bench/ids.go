package bench

import (
	"sync"
	"sync/atomic"
)

// Per message the ledger keeps one byte: the confirmed flag and how many
// times it was received (saturating at receivedMask).
const (
	confirmedFlag = 0x80
	receivedMask  = 0x7f
)

// maxAhead bounds how far past the highest confirmed sequence a receipt may
// be: a message can arrive before its confirm, but at most a window ahead
// (Config.Window is capped at it). Anything further is foreign, so a
// corrupt or hostile payload cannot make the ledger allocate without bound.
const maxAhead = 1 << 20

// Ledger accounts for every message id of a run: which ones the broker
// confirmed and how often each was received. Ids are (publisher, sequence)
// pairs with dense sequences from 0, so the ledger is a byte per message.
// It is safe for concurrent use: publishers confirm while consumers receive.
type Ledger struct {
	pubs []ledgerPub
	// confirmed and received count messages that were both confirmed and
	// received at least once: the run is drained when they are equal.
	confirmed        atomic.Int64
	confirmedArrived atomic.Int64
	received         atomic.Int64 // every receipt, duplicates included
	foreign          atomic.Int64 // receipts of ids this run never made
}

type ledgerPub struct {
	mu    sync.Mutex
	state []byte
}

// NewLedger makes a ledger for publishers publishers, each expecting about
// perPublisher messages (it grows past that as needed).
func NewLedger(publishers, perPublisher int) *Ledger {
	l := &Ledger{pubs: make([]ledgerPub, publishers)}
	for i := range l.pubs {
		l.pubs[i].state = make([]byte, 0, perPublisher)
	}
	return l
}

func (p *ledgerPub) at(seq uint64) *byte {
	for uint64(len(p.state)) <= seq {
		p.state = append(p.state, 0)
	}
	return &p.state[seq]
}

// Confirmed records that the broker confirmed (publisher, seq).
func (l *Ledger) Confirmed(publisher int, seq uint64) {
	if publisher < 0 || publisher >= len(l.pubs) {
		return
	}
	p := &l.pubs[publisher]
	p.mu.Lock()
	s := p.at(seq)
	first := *s&confirmedFlag == 0
	*s |= confirmedFlag
	arrived := *s&receivedMask > 0
	p.mu.Unlock()
	if first {
		l.confirmed.Add(1)
		if arrived {
			l.confirmedArrived.Add(1)
		}
	}
}

// Received records one receipt of (publisher, seq).
func (l *Ledger) Received(publisher int, seq uint64) {
	l.received.Add(1)
	if publisher < 0 || publisher >= len(l.pubs) {
		l.foreign.Add(1)
		return
	}
	p := &l.pubs[publisher]
	p.mu.Lock()
	if seq >= uint64(len(p.state))+maxAhead {
		p.mu.Unlock()
		l.foreign.Add(1)
		return
	}
	s := p.at(seq)
	first := *s&receivedMask == 0
	if *s&receivedMask < receivedMask {
		*s++
	}
	confirmed := *s&confirmedFlag != 0
	p.mu.Unlock()
	if first && confirmed {
		l.confirmedArrived.Add(1)
	}
}

// Drained reports whether every confirmed message has been received.
func (l *Ledger) Drained() bool { return l.confirmedArrived.Load() >= l.confirmed.Load() }

// Progress returns the confirmed count and the receipt count so far.
func (l *Ledger) Progress() (confirmed, received int64) {
	return l.confirmed.Load(), l.received.Load()
}

// Tally is the ledger's verdict.
type Tally struct {
	Confirmed  int64 `json:"confirmed"`
	Received   int64 `json:"received"`    // receipts, duplicates included
	Unique     int64 `json:"unique"`      // distinct ids received
	Lost       int64 `json:"lost"`        // confirmed, never received
	Duplicated int64 `json:"duplicated"`  // receipts beyond the first
	Foreign    int64 `json:"foreign"`     // receipts of ids never published
	Unconfirm  int64 `json:"unconfirmed"` // received but never confirmed
}

// Tally counts lost, duplicated and unconfirmed ids. Call it after the run.
func (l *Ledger) Tally() Tally {
	t := Tally{Confirmed: l.confirmed.Load(), Received: l.received.Load(), Foreign: l.foreign.Load()}
	for i := range l.pubs {
		p := &l.pubs[i]
		p.mu.Lock()
		for _, s := range p.state {
			n := int64(s & receivedMask)
			conf := s&confirmedFlag != 0
			switch {
			case conf && n == 0:
				t.Lost++
			case n > 0:
				t.Unique++
				t.Duplicated += n - 1
				if !conf {
					t.Unconfirm++
				}
			}
		}
		p.mu.Unlock()
	}
	return t
}
