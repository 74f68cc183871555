package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/internal/check"
)

// recorder turns what the nodes observe into a internal/check history.
// Everything is recorded at the moment the node learns it, in event-loop
// order, so the history is as deterministic as the trace.
type recorder struct {
	h       check.History
	digests map[string]check.Digest // message id -> sealed plaintext digest
	seqs    map[string]uint64       // publisher -> publishes so far
	// rejected lists deliveries the receivers refused to open (Result.Rejected).
	rejected []string
	// poisoned: ids whose envelope the publisher tampered with on purpose;
	// rejectedIntact lists rejections of any other message (see
	// Result.RejectedIntact).
	poisoned       map[string]bool
	rejectedIntact []string
	// limitQueues lists, per message id, the queues that gave it out for
	// the last time before its delivery limit: the queues its dead-letter
	// copy came from.
	limitQueues map[string][]string
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
	if d.DeliveryCount != 1 || d.Flags&wire.FlagRedelivered != 0 || isDeadLetterQueue(queue) {
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
		digests:  map[string]check.Digest{},
		seqs:     map[string]uint64{},
		poisoned: map[string]bool{},
	}
}

func at(t VTime) time.Duration { return time.Duration(t) }

func (r *recorder) publish(t VTime, pub string, m *plannedMessage) {
	r.seqs[pub]++
	d := check.DigestOf(m.plaintext)
	r.digests[m.id] = d
	if m.poison {
		r.poisoned[m.id] = true
	}
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
			r.h.Add(check.Indeterminate(at(t), pub, res.ID, res.Code, res.Reason))
			return
		}
		r.h.Add(check.Refused(at(t), pub, res.ID, res.Code, res.Reason))
	}
}

// unknown records a message its publisher still had pending when it
// crashed: the outcome is unknown for ever (the successor does not resend
// it), so it is neither pending nor lost, and may be recovered.
func (r *recorder) unknown(t VTime, pub, id string) {
	r.h.Add(check.Abandoned(at(t), pub, id, "publisher crashed before the outcome"))
}

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

// lastDelivery notes that queue gave message id out for the last time
// before its delivery limit: unless acked, it goes to the dead-letter queue.
func (r *recorder) lastDelivery(queue, id string) {
	if r.limitQueues == nil {
		r.limitQueues = map[string][]string{}
	}
	if !slices.Contains(r.limitQueues[id], queue) {
		r.limitQueues[id] = append(r.limitQueues[id], queue)
	}
}

// appRejected notes that a receiver's application rejected the copy of id
// in queue for good (ackstyle.go). Nothing is recorded as dead-lettered
// yet: the copy counts as dead-lettered only once a receiver drains it
// from the dead-letter queue (deadLetter), so a broker that loses a
// rejected message is caught (I1). A broker that dies while the dead
// letter waits holds it in the dead-letter queue, which stands for this
// queue's copy (brokerLost), as for a delivery limit.
func (r *recorder) appRejected(queue, id string) { r.lastDelivery(queue, id) }

// brokerLost records what the broker held when it died. A copy held in the
// dead-letter queue stands for the copy of the queue it was dead-lettered
// from, which is the copy the checker accounts for: a dead letter lost with
// a non-durable dead-letter queue is legitimately lost too.
func (r *recorder) brokerLost(t VTime, held []broker.HeldMessage) {
	qm := make([]check.QueueMessage, 0, len(held))
	for _, m := range held {
		qm = append(qm, check.QueueMessage{Queue: m.Queue, MessageID: m.MessageID})
		if isDeadLetterQueue(m.Queue) {
			for _, q := range r.limitQueues[m.MessageID] {
				qm = append(qm, check.QueueMessage{Queue: q, MessageID: m.MessageID})
			}
		}
	}
	r.h.Add(check.BrokerRestart(at(t), qm...))
}

// deadLetter records a delivery drained from the dead-letter queue. The
// delivery does not say which queue the copy came from, so the event covers
// every unprocessed copy of the id.
func (r *recorder) deadLetter(t VTime, rc, id string) {
	r.h.Add(check.DeadLettered(at(t), rc, "", id, "drained from the dead-letter queue"))
}

// reject records a delivery the receiver refused to open: that copy is
// dead-lettered (rejected for good), never processed.
func (r *recorder) reject(t VTime, rc, queue, id, why string) {
	r.rejected = append(r.rejected, rc+" "+queue+" "+id+": "+why)
	if !r.poisoned[id] {
		r.rejectedIntact = append(r.rejectedIntact, fmt.Sprintf("%s@%s (rejected by %s at %v: %s)", id, queue, rc, at(t), why))
	}
	r.h.Add(check.DeadLettered(at(t), rc, queue, id, "rejected by "+rc+": "+why))
}
