package sim

import (
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/scenarios/check"
)

// recorder turns what the nodes observe into a scenarios/check history.
// Everything is recorded at the moment the node learns it, in event-loop
// order, so the history is as deterministic as the trace.
type recorder struct {
	h       check.History
	digests map[string]check.Digest // message id -> sealed plaintext digest
	seqs    map[string]uint64       // publisher -> publishes so far
	// abandoned lists messages a publisher still had pending when it
	// crashed: their outcome is unknown for ever (see Result.Abandoned).
	abandoned map[string]bool
	// refusedAfterResend lists messages refused on a later attempt after an
	// earlier one went unanswered: indeterminate (see Result.Indeterminate).
	refusedAfterResend map[string]bool
	// deadLettered lists ids drained from the dead-letter queue.
	deadLettered map[string]bool
	rejected     []string
	rejectedCopy map[check.QueueMessage]bool
	// firsts remembers first deliveries (delivery count 1) per broker
	// incarnation, queue and id; enqueuedTwice lists repeats (see
	// Result.EnqueuedTwice).
	firstTags     map[firstKey]uint64
	enqueuedTwice []string
}

type firstKey struct {
	inc       uint64
	queue, id string
}

// firstDelivery notes a delivery. A message the broker enqueued once is
// delivered with count 1 once; a second count-1 delivery of the same id from
// the same queue and the same broker incarnation means the broker enqueued
// it twice — the duplicate its dedup window exists to prevent. (Across a
// broker restart the in-memory dedup window is gone, so that is no finding.)
// A duplicated Deliver datagram repeats its delivery tag and is no finding
// either, hence the tag is kept.
func (r *recorder) firstDelivery(t VTime, rc string, inc uint64, queue, id string, d *wire.Deliver) {
	if d.DeliveryCount != 1 || d.Flags&wire.FlagRedelivered != 0 || queue == deadLetterQueue {
		// The dead-letter queue legitimately holds one copy per queue the
		// message was dead-lettered from.
		return
	}
	k := firstKey{inc: inc, queue: queue, id: id}
	if r.firstTags == nil {
		r.firstTags = map[firstKey]uint64{}
	}
	if tag, ok := r.firstTags[k]; ok {
		if tag != d.DeliveryTag {
			r.enqueuedTwice = append(r.enqueuedTwice, fmt.Sprintf("%s@%s (broker incarnation %d, seen by %s at %v)", id, queue, inc, rc, at(t)))
		}
		return
	}
	r.firstTags[k] = d.DeliveryTag
}

func newRecorder() *recorder {
	return &recorder{
		digests:            map[string]check.Digest{},
		seqs:               map[string]uint64{},
		abandoned:          map[string]bool{},
		refusedAfterResend: map[string]bool{},
		deadLettered:       map[string]bool{},
	}
}

func at(t VTime) time.Duration { return time.Duration(t) }

func (r *recorder) publish(t VTime, pub string, m *plannedMessage) {
	r.seqs[pub]++
	d := check.DigestOf(m.plaintext)
	r.digests[m.id] = d
	r.h.Add(check.Attempt(at(t), pub, m.id, r.seqs[pub], d, m.queues...))
}

func (r *recorder) resolve(t VTime, pub string, res engine.Resolution) {
	switch res.Outcome {
	case engine.Confirmed:
		r.h.Add(check.Confirmed(at(t), pub, res.ID))
	case engine.Duplicate:
		r.h.Add(check.ConfirmedDuplicate(at(t), pub, res.ID))
	case engine.Refused:
		if res.Sends > 1 {
			// An earlier attempt went unanswered (lost confirm, broken
			// connection, broker restart) and may have been enqueued; a
			// refusal of a later attempt does not undo it. The outcome is
			// indeterminate (Jepsen's :info), not a definite failure.
			r.refusedAfterResend[res.ID] = true
			return
		}
		r.h.Add(check.Refused(at(t), pub, res.ID, res.Code, res.Reason))
	}
}

func (r *recorder) unknown(_ VTime, _ string, id string) { r.abandoned[id] = true }

func (r *recorder) publisherCrash(t VTime, pub string) { r.h.Add(check.PublisherCrash(at(t), pub)) }
func (r *recorder) publisherRestart(t VTime, pub string) {
	r.h.Add(check.PublisherRestart(at(t), pub))
}
func (r *recorder) receiverCrash(t VTime, rc string)   { r.h.Add(check.ReceiverCrash(at(t), rc)) }
func (r *recorder) receiverRestart(t VTime, rc string) { r.h.Add(check.ReceiverRestart(at(t), rc)) }

// processed records a durable, valid processing. The digest argument is the
// hex form used in traces; the history keeps the full digest of the
// plaintext, recomputed by the caller through check.DigestOf.
func (r *recorder) processed(t VTime, rc, queue, id string, plaintextDigest check.Digest, redelivered bool) {
	r.h.Add(check.Processed(at(t), rc, queue, id, plaintextDigest, redelivered))
}

func (r *recorder) brokerLost(t VTime, held []broker.HeldMessage) {
	qm := make([]check.QueueMessage, len(held))
	for i, m := range held {
		qm[i] = check.QueueMessage{Queue: m.Queue, MessageID: m.MessageID}
	}
	r.h.Add(check.BrokerRestart(at(t), qm...))
}

func (r *recorder) deadLetter(_ VTime, _ string, id string) { r.deadLettered[id] = true }

func (r *recorder) reject(_ VTime, rc, queue, id, why string) {
	r.rejected = append(r.rejected, rc+" "+queue+" "+id+": "+why)
	if r.rejectedCopy == nil {
		r.rejectedCopy = map[check.QueueMessage]bool{}
	}
	r.rejectedCopy[check.QueueMessage{Queue: queue, MessageID: id}] = true
}
