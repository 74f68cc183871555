// Package check judges a run by its history. It is the referee of every
// fault test: the deterministic simulator and the real-process specs record
// what the publishers attempted and learned and what the receivers processed,
// and Check compares the two against the invariants I1–I6 of
// docs/architecture.md (section "Invariants").
//
// # Vocabulary
//
// The categories are Jepsen's (the total-queue checker), counted per routed
// copy: a message routed to two queues is two copies, one per queue.
//
//   - lost: the broker confirmed the publish, but no receiver of a queue the
//     message was routed to ever processed it, and the broker did not hold it
//     in an in-memory queue when the broker process restarted (I1);
//   - recovered: the publisher never learned the outcome, or learned an
//     indeterminate one, but the message was processed. Not an error: an
//     unknown outcome may go either way;
//   - unexpected: processed, but never published, only refused (definitely:
//     after a single send), or processed from a queue it was not routed to;
//   - duplicated: processed more than once from the same queue, after the
//     receivers' deduplication (I2).
//
// A publish whose outcome never arrived is "unknown", never "lost". A
// refusal that arrived after the message was sent more than once is
// "indeterminate" (OutcomeIndeterminate, Jepsen's :info): an earlier,
// unanswered attempt may have been stored, so the message is recovered if
// processed and neither lost nor pending if not. Beside
// these, Check reports corrupted copies (the processed plaintext's digest
// differs from the one sealed, I3), order anomalies on queues that promise
// order (nonmonotonic and skipped, Maelstrom's kafka-checker style, I5),
// publishes still pending when the liveness phase ended (I4, reported as a
// liveness violation, apart from the safety anomalies) and malformed
// histories (a recorder's mistake or contradictory outcomes). Excused, and
// listed so a reader sees why: copies held by an in-memory queue when the
// broker restarted, copies dead-lettered with a reason, copies and publishes
// owed to nodes outside the liveness core, and publishes abandoned by their
// publisher.
//
// # What the caller supplies
//
// The checker knows nothing about topology: the publish event carries the
// queues the message should reach (computed by the caller from its bindings),
// and Options say which queues are durable, which promise order and which
// nodes are outside the liveness core. Histories are plain JSON (Event), so a
// failing run's history can be saved next to its seed and re-checked.
//
// # Limits worth knowing
//
// A copy held in a non-durable queue at a broker restart stays excused even
// if its publisher, never having seen the confirm, republished it after the
// restart and the new broker incarnation confirmed it again: the history
// cannot tell that fresh confirm from a late record of the old one. A
// driver that can tell (the simulator knows which incarnation confirmed)
// should check convergence of the broker's queues as well.
//
// Dead-letter queues are not consumed as ordinary queues in a history:
// record a DeadLettered event for the copy instead of a processed event from
// the dead-letter queue, which would be "unexpected" (not routed there).
//
// Coverage is the Antithesis-style "sometimes" counter: named events counted
// over a batch of seeds, with Missing listing those never seen, because a
// green batch that never redelivered anything proved little.
package check
