// Package wal is the durable storage engine of CipherMQ's broker: one
// append-only, segmented write-ahead log per broker holding the durable
// topology (exchanges, queues, bindings), publishes to durable queues,
// deliveries, settlements (ack, dead-letter, discard) and the dedup
// window. docs/storage.md describes the format byte by byte and states
// exactly what survives which failure.
//
// # Shape
//
// Like the broker core, the store is a plain value driven by one caller at
// a time: it starts no goroutines and reads no clock. The driver decides
// when to Sync; that is group commit:
//
//	s, rec, err := wal.Open(fsys, opts)  // lock the directory, replay, cut a torn tail
//	lsn, err := s.Append(recs...)          // one write for the whole batch
//	durable, err := s.Sync()               // one fsync; every record <= durable is safe
//	// now, and only now under SyncAlways, confirm the publishes up to lsn
//
// The file system is an interface (FS). OSFS is the real one (with a
// flock on the data directory so that a second broker process gets
// ErrLocked); MemFS is a disk in memory with power-loss semantics for
// tests and the simulator: unsynced bytes vanish on Crash, the last write
// can be torn, and writes and fsyncs can be made to fail (ENOSPC, EIO).
//
// # Failure
//
// After any failed write or fsync the store is failed (ErrFailed): it
// cannot know which unsynced bytes reached the disk (Linux may drop the
// dirty pages of a failed fsync and report success next time), so it
// writes nothing more. The driver refuses durable publishes with a reason
// and may Close and Open the store again: replay then reads what really is
// on disk, cuts a torn tail, and continues from there.
//
// # Recovery
//
// Open replays every segment in order. A record is a length, a CRC-32C
// and a payload; the first record that does not decode in the last
// segment ends the log: if nothing valid follows it, it is a torn write,
// cut and reported in Recovered.Damage. Damage in any other segment, or
// damage followed by valid records, is ErrCorrupt naming the segment and
// offset, and nothing is changed.
package wal
