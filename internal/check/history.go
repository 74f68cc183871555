package check

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Kind says what an Event records.
type Kind string

const (
	// KindPublish: a publisher attempted a message (first attempt; retries of
	// the same message may be recorded again, identically).
	KindPublish Kind = "publish"
	// KindOutcome: the publisher learned how a publish ended.
	KindOutcome Kind = "outcome"
	// KindProcessed: a receiver processed (stored as valid, after its dedup)
	// a message taken from a queue.
	KindProcessed Kind = "processed"
	// KindBrokerRestart: the broker process restarted; Held is what its
	// queues held at that moment.
	KindBrokerRestart Kind = "broker-restart"
	// Client crashes and restarts, recorded for the report's context.
	KindReceiverCrash    Kind = "receiver-crash"
	KindReceiverRestart  Kind = "receiver-restart"
	KindPublisherCrash   Kind = "publisher-crash"
	KindPublisherRestart Kind = "publisher-restart"
	// KindAbandoned: the publisher gave up on a publish whose outcome it
	// never learned (it crashed without a durable pending set, or hit its
	// retry limit). The outcome stays unknown for ever: the message may still
	// be recovered, but it is no longer pending.
	KindAbandoned Kind = "abandoned"
	// KindDeadLettered: a copy was dead-lettered (delivery limit, or a
	// receiver rejected it as forged or tampered) instead of processed.
	// Queue is the queue it was dead-lettered from; empty means every copy
	// of the message not processed (when the observer only sees the id).
	KindDeadLettered Kind = "dead-lettered"
)

// Outcome is how a publish ended, as the publisher learned it.
type Outcome string

const (
	// OutcomeUnknown: never resolved. It is what a publish without an outcome
	// event has; recording it explicitly changes nothing.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeConfirmed: the broker confirmed the message in every target queue.
	OutcomeConfirmed Outcome = "confirmed"
	// OutcomeConfirmedDuplicate: confirmed as already accepted inside the
	// broker's dedup window.
	OutcomeConfirmedDuplicate Outcome = "confirmed-duplicate"
	// OutcomeRefused: the broker refused the publish with Code and Reason.
	OutcomeRefused Outcome = "refused"
	// OutcomeIndeterminate: the broker refused a later attempt of a message
	// sent more than once (Code and Reason are that refusal's). An earlier,
	// unanswered attempt may have been stored (by a broker incarnation that
	// died since, say), and the refusal does not undo it: like Jepsen's
	// :info, the message may or may not be delivered. Processed, it is
	// "recovered"; never processed, it is not lost; it is not pending.
	OutcomeIndeterminate Outcome = "indeterminate"
)

// Digest is the SHA-256 of a plaintext. The checker compares digests, so a
// history never holds plaintexts.
type Digest [sha256.Size]byte

// DigestOf returns the digest of a plaintext.
func DigestOf(plaintext []byte) Digest { return sha256.Sum256(plaintext) }

// IsZero reports whether d is unset (integrity not tracked).
func (d Digest) IsZero() bool { return d == Digest{} }

// String is the digest's first 6 bytes in hex, enough for a report.
func (d Digest) String() string { return hex.EncodeToString(d[:6]) }

// MarshalText encodes the digest as 64 hex digits.
func (d Digest) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(d)))
	hex.Encode(out, d[:])
	return out, nil
}

// UnmarshalText decodes 64 hex digits.
func (d *Digest) UnmarshalText(text []byte) error {
	if hex.DecodedLen(len(text)) != len(d) {
		return fmt.Errorf("digest %q: want %d hex digits", text, 2*len(d))
	}
	if _, err := hex.Decode(d[:], text); err != nil {
		return fmt.Errorf("digest %q: %w", text, err)
	}
	return nil
}

// QueueMessage names one copy of a message: message ID in Queue.
type QueueMessage struct {
	Queue     string `json:"queue"`
	MessageID string `json:"id"`
}

// Event is one entry of a history. Which fields are set depends on Kind;
// the constructors below set exactly those. At is virtual time in the
// simulator and time since the start of the run in real-process tests.
type Event struct {
	Kind Kind          `json:"kind"`
	At   time.Duration `json:"at"`
	// Publish and outcome events.
	Publisher string `json:"publisher,omitempty"`
	// Seq is the publisher's own sequence index of the message (its place in
	// that publisher's publish order), not a wire sequence number.
	Seq    uint64   `json:"seq,omitempty"`
	Queues []string `json:"queues,omitempty"`
	// Outcome events.
	Outcome Outcome `json:"outcome,omitempty"`
	Code    uint16  `json:"code,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	// Processed, receiver crash and restart events.
	Receiver    string `json:"receiver,omitempty"`
	Queue       string `json:"queue,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`
	// Publish (the sealed plaintext) and processed (the decrypted one).
	MessageID string `json:"id,omitempty"`
	Digest    Digest `json:"digest,omitzero"`
	// Broker restart.
	Held []QueueMessage `json:"held,omitempty"`
}

// Attempt records that publisher attempted message id, the seq-th of its
// publishes, whose plaintext has the given digest and which the topology
// routes to queues.
func Attempt(at time.Duration, publisher, id string, seq uint64, digest Digest, queues ...string) Event {
	return Event{Kind: KindPublish, At: at, Publisher: publisher, MessageID: id, Seq: seq,
		Digest: digest, Queues: slices.Clone(queues)}
}

// Confirmed records that the broker confirmed publisher's message id.
func Confirmed(at time.Duration, publisher, id string) Event {
	return Event{Kind: KindOutcome, At: at, Publisher: publisher, MessageID: id, Outcome: OutcomeConfirmed}
}

// ConfirmedDuplicate records a confirm flagged as a duplicate by the broker.
func ConfirmedDuplicate(at time.Duration, publisher, id string) Event {
	return Event{Kind: KindOutcome, At: at, Publisher: publisher, MessageID: id, Outcome: OutcomeConfirmedDuplicate}
}

// Refused records that the broker refused publisher's message id.
func Refused(at time.Duration, publisher, id string, code uint16, reason string) Event {
	return Event{Kind: KindOutcome, At: at, Publisher: publisher, MessageID: id, Outcome: OutcomeRefused,
		Code: code, Reason: reason}
}

// Indeterminate records that the broker refused publisher's message id on a
// later attempt, after an earlier attempt went unanswered: the refusal is
// not definite (see OutcomeIndeterminate). Record a refusal of a message
// sent only once with Refused.
func Indeterminate(at time.Duration, publisher, id string, code uint16, reason string) Event {
	return Event{Kind: KindOutcome, At: at, Publisher: publisher, MessageID: id, Outcome: OutcomeIndeterminate,
		Code: code, Reason: reason}
}

// Abandoned records that publisher gave up on message id without learning
// its outcome.
func Abandoned(at time.Duration, publisher, id, reason string) Event {
	return Event{Kind: KindAbandoned, At: at, Publisher: publisher, MessageID: id, Reason: reason}
}

// DeadLettered records that the copy of message id in queue (empty: every
// unprocessed copy) was dead-lettered, as seen by observer (for example the
// receiver draining the dead-letter queue; may be empty).
func DeadLettered(at time.Duration, observer, queue, id, reason string) Event {
	return Event{Kind: KindDeadLettered, At: at, Receiver: observer, Queue: queue, MessageID: id, Reason: reason}
}

// Processed records that receiver processed message id taken from queue,
// with the digest of the plaintext it decrypted.
func Processed(at time.Duration, receiver, queue, id string, digest Digest, redelivered bool) Event {
	return Event{Kind: KindProcessed, At: at, Receiver: receiver, Queue: queue, MessageID: id,
		Digest: digest, Redelivered: redelivered}
}

// BrokerRestart records a broker restart and what its queues held (ready and
// unacked). Copies held in durable queues stay owed; the others are
// legitimately lost.
func BrokerRestart(at time.Duration, held ...QueueMessage) Event {
	return Event{Kind: KindBrokerRestart, At: at, Held: slices.Clone(held)}
}

// ReceiverCrash records that a receiver process died.
func ReceiverCrash(at time.Duration, receiver string) Event {
	return Event{Kind: KindReceiverCrash, At: at, Receiver: receiver}
}

// ReceiverRestart records that a crashed receiver came back.
func ReceiverRestart(at time.Duration, receiver string) Event {
	return Event{Kind: KindReceiverRestart, At: at, Receiver: receiver}
}

// PublisherCrash records that a publisher process died.
func PublisherCrash(at time.Duration, publisher string) Event {
	return Event{Kind: KindPublisherCrash, At: at, Publisher: publisher}
}

// PublisherRestart records that a crashed publisher came back.
func PublisherRestart(at time.Duration, publisher string) Event {
	return Event{Kind: KindPublisherRestart, At: at, Publisher: publisher}
}

// History is the ordered record of a run. Order matters for the order checks:
// processed events of one receiver must be appended in the order it
// processed them.
type History struct {
	Events []Event `json:"events"`
}

// Add appends events.
func (h *History) Add(events ...Event) { h.Events = append(h.Events, events...) }

// Recorder is a History safe for concurrent use, for real-process tests
// whose clients record from their own goroutines. The simulator, single
// threaded, can use a History directly.
type Recorder struct {
	mu sync.Mutex
	h  History
}

// Add appends events atomically (events of one call stay adjacent).
func (r *Recorder) Add(events ...Event) {
	r.mu.Lock()
	r.h.Add(events...)
	r.mu.Unlock()
}

// History returns a copy of what was recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{Events: slices.Clone(r.h.Events)}
}

// Save writes the history as indented JSON, so a failing run's history can
// be kept next to its seed and checked again later.
func (h History) Save(path string) error {
	data, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// LoadHistory reads a history written by Save (or by any recorder that
// follows the Event JSON model). Unknown fields are an error.
func LoadHistory(path string) (History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return History{}, fmt.Errorf("read history: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var h History
	if err := dec.Decode(&h); err != nil {
		return History{}, fmt.Errorf("history %s is not a history file: %w", path, err)
	}
	return h, nil
}
