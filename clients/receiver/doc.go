// Package receiver is the durable receiver: it turns batches of deliveries
// into stored plaintext records and ack/reject verdicts, so that a message is
// acked only after its record is fsync'd (invariants I1, I2, I3).
//
// Per batch (the consumer library hands deliveries over in batches):
//
//  1. for each delivery: an id already in the store is a duplicate (acked,
//     counted); an envelope that does not open (unknown format, tampered,
//     untrusted sender, wrong key, replayed under another id, ...) is a
//     permanent failure: rejected (the broker moves it to the queue's
//     dead-letter queue, if it has one) and counted with
//     its reason; otherwise its record is appended to the store;
//  2. one fsync for the whole batch (group commit);
//  3. only then the verdicts are returned, and the driver acks.
//
// If the fsync fails nothing of the batch is acked: every delivery is
// requeued and Process returns the error, because the store cannot tell any
// more what is on disk; the driver must stop and reopen it.
//
// Process is deterministic (no goroutines, no clock: now is a parameter), so
// the simulator runs exactly this code; package runner (clients/receiver/runner)
// is the driver over the networked client library.
package receiver
