// Package inbox is the receiver's durable output and its dedup record in one
// file: an append-only JSON Lines file with one object per processed message.
//
// # Why one file
//
// A receiver must never process a message twice (invariant I2) and must never
// ack a message it has not made durable (I1). Keeping the output and the dedup
// record in the same file makes both true with one fsync per batch: a record
// is either in the file (stored and remembered) or not (neither), there is no
// window where one exists without the other. The receiver's loop is
//
//	for each delivery in the batch:
//	    if s.Has(id) { a duplicate: ack it with the batch; continue }
//	    open the envelope; s.Append(record)
//	s.Sync()            // one fsync for the whole batch (group commit)
//	ack the batch       // only now: every acked id is durable
//
// Seen is the stricter question "is this id durable?", for code that acks a
// duplicate at once instead of with the batch (the client engine's SeenSet):
// an id appended but not yet synced is not Seen, because acking a copy of it
// before the fsync could lose the message in a crash.
//
// A crash before Sync loses at most unacked records, which the broker
// redelivers; a crash after Sync but before the acks leads to redeliveries
// that Seen turns into duplicate acks.
//
// # Format
//
// Each line is one JSON object followed by "\n":
//
//	{"message_id":"m-1","queue":"q","sender":"ed25519:…","received_at":"2026-11-26T10:00:00.000000001Z","stored_at":"…","message":"hello"}
//
// message holds the plaintext when it is valid UTF-8; otherwise the object has
// message_base64 (standard base64, with padding) instead. Exactly one of the
// two is present. A record of a delivery the broker flagged as redelivered has
// "redelivered":true between stored_at and the message; the key is absent
// otherwise, so files written before it existed read the same (false). Timestamps are RFC 3339 with nanoseconds, in UTC; the caller
// passes them in (the store never reads the clock). The keys are always
// written in the order above so that the file diffs and greps well.
//
// # Recovery
//
// Open reads the whole file and rebuilds the set of stored ids. A crash can
// leave a torn last line: bytes without the final newline, or a last line that
// is not a valid record (for example zeros left by a file system that
// extended the file before writing its data). Open cuts such a tail back to
// the end of the last complete record, fsyncs the cut, logs it and reports it
// in Recovery — never silently. Open fsyncs the file even when nothing was
// cut: records a killed writer wrote but never synced may still sit in the
// page cache, and once Open reports their ids as Seen they must be durable. A bad line anywhere else is not a crash
// artefact of this store, so Open refuses the file with a *CorruptError that
// names the line, instead of guessing.
//
// # Seams
//
// All file access goes through the FS and File interfaces. OSFS is the real
// implementation (it also holds an exclusive flock so that two receivers
// cannot write the same file); the deterministic simulator supplies a disk
// that loses un-fsynced writes on a crash and runs this package's real logic
// over it.
package inbox
