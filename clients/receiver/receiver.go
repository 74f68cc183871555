package receiver

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
)

// Delivery is what the receiver needs of one delivery.
type Delivery struct {
	MessageID string
	Queue     string
	Body      []byte // the envelope (after Prefix, if set)
	// Prefix, if set, is the envelope's shared leading part: the envelope
	// is Prefix ‖ Body (clients.Delivery.Prefix, ConsumerOptions.SplitPrefix).
	Prefix     []byte
	ReceivedAt time.Time
	// Redelivered is the broker's flag: an earlier delivery of this
	// message was not acked. It is kept in the stored record.
	Redelivered bool
}

// Verdict is the receiver's decision on one delivery.
type Verdict uint8

const (
	// Stored: the record is durable. Ack.
	Stored Verdict = iota + 1
	// Duplicate: the id was stored before. Ack, the application already has it.
	Duplicate
	// Rejected: the envelope can never be opened. Reject to the dead-letter queue.
	Rejected
	// Retry: the store failed; nothing is known to be durable. Requeue.
	Retry
)

// String names the verdict for logs and tests.
func (v Verdict) String() string {
	switch v {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	case Rejected:
		return "rejected"
	case Retry:
		return "retry"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Outcome is the verdict on one delivery, with the reason for a rejection.
type Outcome struct {
	Verdict Verdict
	// Reason is a short stable name for a rejection ("tampered",
	// "untrusted-sender", ...), see ReasonOf.
	Reason string
	// Err is the full error behind a rejection or a retry.
	Err error
}

// Stats are cumulative counters.
type Stats struct {
	Received   uint64            // deliveries processed (including duplicates the driver acked)
	Stored     uint64            // records appended and synced
	Duplicates uint64            // deliveries of already stored ids (here or acked by the driver)
	Rejected   map[string]uint64 // by reason
	Batches    uint64            // batches processed (at most one fsync each)
}

// RejectedTotal sums Rejected.
func (s Stats) RejectedTotal() uint64 {
	var n uint64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// Receiver opens envelopes and stores them. Process calls are serialised
// by a mutex, so Stats may be read from another goroutine (a progress
// display) while a consumer loop drives it.
type Receiver struct {
	mu     sync.Mutex
	store  *inbox.Store
	opener envelope.Opener
	stats  Stats
	plain  []byte // reused plaintext buffer
	joined []byte // reused envelope buffer for openers that cannot open in parts

	// onStored, if set, sees each record once it is durable; stored holds
	// the batch's records until the fsync (copies, only when onStored is set).
	onStored func(inbox.Record)
	stored   []inbox.Record

	// driverDuplicates counts duplicates the driver acked without calling
	// Process (the consumer library acks ids the store reports as Seen).
	driverDuplicates func() uint64
}

// OnStored sets a function that sees every record once it is durable (after
// its batch's fsync), for example to print it. It runs inside Process, with
// the Receiver locked: it must not call the Receiver's methods.
func (r *Receiver) OnStored(fn func(inbox.Record)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onStored = fn
}

// AddDriverDuplicates adds a counter of duplicates the driver acked
// without calling Process (the consumer library acks ids the store reports
// as Seen) to Stats; counters of earlier drivers of this Receiver are kept.
func (r *Receiver) AddDriverDuplicates(count func() uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	base := r.driverDuplicates
	r.driverDuplicates = func() uint64 {
		n := count()
		if base != nil {
			n += base() // an earlier driver of this Receiver
		}
		return n
	}
}

// New returns a receiver over an open store and an opener (which decides
// which formats, keys and senders are accepted).
func New(s *inbox.Store, o envelope.Opener) (*Receiver, error) {
	if s == nil || o == nil {
		return nil, errors.New("receiver: needs a store and an envelope opener")
	}
	return &Receiver{store: s, opener: o, stats: Stats{Rejected: map[string]uint64{}}}, nil
}

// Stats returns a copy of the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Rejected = maps.Clone(r.stats.Rejected)
	if r.driverDuplicates != nil {
		d := r.driverDuplicates()
		s.Received += d
		s.Duplicates += d
	}
	return s
}

// Store is the receiver's store.
func (r *Receiver) Store() *inbox.Store { return r.store }

// Process handles one batch and writes one outcome per delivery into out
// (reused if large enough) and returns it. now is the time records are
// stored at. Every Stored or Duplicate verdict is durable when Process
// returns. A non-nil error means the store is broken: every outcome is then
// Retry, and the caller must stop using this Receiver and its Store.
func (r *Receiver) Process(batch []Delivery, now time.Time, out []Outcome) ([]Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out = out[:0]
	clear(r.stored)
	r.stored = r.stored[:0]
	for i := range batch {
		out = append(out, r.one(&batch[i], now))
	}
	if err := r.store.Sync(); err != nil {
		for i := range out {
			out[i] = Outcome{Verdict: Retry, Err: err}
		}
		return out, fmt.Errorf("receiver: store sync failed, nothing of this batch is acked: %w", err)
	}
	r.stats.Batches++
	for i := range out {
		r.stats.Received++
		switch out[i].Verdict {
		case Stored:
			r.stats.Stored++
		case Duplicate:
			r.stats.Duplicates++
		case Rejected:
			r.stats.Rejected[out[i].Reason]++
		}
	}
	if r.onStored != nil {
		for _, rec := range r.stored {
			r.onStored(rec)
		}
	}
	return out, nil
}

func (r *Receiver) one(d *Delivery, now time.Time) Outcome {
	if r.store.Has(d.MessageID) {
		return Outcome{Verdict: Duplicate}
	}
	plain, sender, joined, err := envelope.OpenParts(r.opener, r.plain[:0], d.MessageID, d.Prefix, d.Body, now, r.joined)
	r.joined = joined
	if err != nil {
		return Outcome{Verdict: Rejected, Reason: ReasonOf(err), Err: err}
	}
	r.plain = plain
	rec := inbox.Record{
		MessageID:   d.MessageID,
		Queue:       d.Queue,
		Sender:      SenderName(sender),
		Message:     plain,
		ReceivedAt:  d.ReceivedAt,
		StoredAt:    now,
		Redelivered: d.Redelivered,
	}
	err = r.store.Append(rec)
	switch {
	case err == nil:
		if r.onStored != nil {
			rec.Message = append([]byte(nil), plain...)
			r.stored = append(r.stored, rec)
		}
		return Outcome{Verdict: Stored}
	case errors.Is(err, inbox.ErrDuplicate):
		return Outcome{Verdict: Duplicate}
	case errors.Is(err, inbox.ErrInvalidRecord):
		return Outcome{Verdict: Rejected, Reason: "invalid-record", Err: err}
	}
	// The store is broken; Sync will report it for the whole batch.
	return Outcome{Verdict: Retry, Err: err}
}

// SenderName is the sender field of a record: "ed25519:" and the signer's
// key id for authenticated envelopes, inbox.SenderUnauthenticated otherwise.
func SenderName(s envelope.SenderInfo) string {
	if s.Authenticated && len(s.SenderKey) > 0 {
		return "ed25519:" + envelope.SignerKeyID(s.SenderKey)
	}
	return inbox.SenderUnauthenticated
}

// reasons maps envelope errors to short, stable rejection reasons.
var reasons = []struct {
	err    error
	reason string
}{
	{envelope.ErrMessageIDMismatch, "message-id-mismatch"},
	{envelope.ErrTamperedHeader, "tampered-header"},
	{envelope.ErrTampered, "tampered"},
	{envelope.ErrUntrustedSender, "untrusted-sender"},
	{envelope.ErrNotRecipient, "not-recipient"},
	{envelope.ErrWrongKey, "wrong-key"},
	{envelope.ErrFormatNotAccepted, "format-not-accepted"},
	{envelope.ErrUnknownFormat, "unknown-format"},
	{envelope.ErrUnknownVersion, "unknown-version"},
	{envelope.ErrUnsupportedSuite, "unsupported-suite"},
	{envelope.ErrTooLarge, "too-large"},
	{envelope.ErrTruncated, "truncated"},
	{envelope.ErrBadJSON, "malformed"},
	{envelope.ErrBadBase64, "malformed"},
	{envelope.ErrMalformed, "malformed"},
	{envelope.ErrInvalidMessageID, "invalid-message-id"},
}

// ReasonOf names why an envelope was refused.
func ReasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
